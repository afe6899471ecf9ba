import { z } from "zod";

// File bodies come from mailcow's own /opt/postfix.sh at image build time (they are not ours
// to copy). Each body is a list of literal text and named variables, so a literal `${DBUSER}`
// in upstream text can never be confused with a placeholder.

export const TEMPLATE_VARIABLES = ["DBUSER", "DBPASS", "DBNAME", "SPAMHAUS_DQS_KEY"] as const;
export type TemplateVariable = (typeof TEMPLATE_VARIABLES)[number];

export type Segment = string | { var: TemplateVariable };
export type Template = Segment[];

const segmentSchema = z.union([z.string(), z.object({ var: z.enum(TEMPLATE_VARIABLES) }).strict()]);
const templateSchema = z.array(segmentSchema);

export const TEMPLATES_FORMAT = "mailcow-postfix-init/templates@1";

export const templatesSchema = z
  .object({
    format: z.literal(TEMPLATES_FORMAT),
    /** Where the bodies were extracted from, for the admin reading the file. */
    source: z.object({ path: z.string(), sha256: z.string() }).strict(),
    aliases: templateSchema,
    /** File name under CONF/sql/ -> body. */
    sqlMaps: z.record(z.string().regex(/^[A-Za-z0-9_.-]+\.cf$/), templateSchema),
    /** Default dns_blocklists.cf, written only when the admin has none. */
    dnsblSites: templateSchema,
    /** JavaScript regular expressions; matching lines are removed from dns_blocklists.cf. */
    discontinuedDnsbl: z.array(z.string()),
    /** postscreen lines appended to main.cf with a Spamhaus DQS key (trailing newlines removed). */
    spamhausDqsSites: templateSchema,
    /** CONF/dnsbl_reply.map with a DQS key. */
    spamhausDqsReplyMap: templateSchema,
    /** postscreen lines for the open Spamhaus lists (trailing newlines removed). */
    spamhausOpenSites: templateSchema,
    /** CONF/custom_postscreen_whitelist.cidr when missing. */
    postscreenWhitelist: templateSchema,
  })
  .strict();

export type Templates = z.infer<typeof templatesSchema>;

/** Substitute variables; a variable without a value is a programming error, not admin input. */
export function renderTemplate(template: Template, values: Partial<Record<TemplateVariable, string>>): string {
  return template
    .map((segment) => {
      if (typeof segment === "string") return segment;
      const value = values[segment.var];
      if (value === undefined) throw new Error(`template variable ${segment.var} has no value`);
      return value;
    })
    .join("");
}
