import { z } from "zod";
import { UserError } from "./errors.ts";

/** A process environment as received: what settings are resolved from and what child processes inherit. */
export type Env = Record<string, string | undefined>;

// The container's environment, checked once before anything is touched. Values end up inside
// Postfix config files (`user = ...`, `myhostname = ...`), so a line break or a stray character
// would silently change the configuration: reject it here, naming the variable and the rule.
// Imported only by the commands that read it (start, entrypoint), when they run: zod would
// cost every other run its load time and memory (docs/performance.md).

const HOSTNAME_LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;

/** A fully qualified domain name: at least two LDH labels, no trailing dot, at most 253 chars. */
export function isFqdn(value: string): boolean {
  const labels = value.split(".");
  return value.length <= 253 && labels.length >= 2 && labels.every((label) => HOSTNAME_LABEL.test(label));
}

const singleLine = (rule: string) =>
  z
    .string({ error: "required, must be set" })
    .min(1, { error: "required, must not be empty" })
    // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
    .refine((value) => !/[\0-\x1f\x7f]/.test(value), { error: `${rule}: must not contain line breaks or control characters` })
    // Postfix trims values in its map files, so the SQL maps would carry a different value.
    .refine((value) => value.trim() === value, {
      error: `${rule}: must not start or end with a space (Postfix's SQL map files would drop it)`,
    });

const optional = <T extends z.ZodType>(schema: T) => z.preprocess((value) => (value === "" ? undefined : value), schema.optional());

const startSchema = z.object({
  DBNAME: singleLine("database name"),
  DBUSER: singleLine("database user"),
  DBPASS: singleLine("database password"),
  MAILCOW_HOSTNAME: z.string({ error: "required, must be set" }).refine(isFqdn, {
    error:
      "must be a fully qualified domain name such as mail.example.org (letters, digits, hyphens; at least two labels; no trailing dot)",
  }),
  SPAMHAUS_DQS_KEY: optional(
    z.string().regex(/^[A-Za-z0-9]+$/, { error: "must be letters and digits only (the key from your Spamhaus DQS account)" }),
  ),
  REDIS_SLAVEOF_IP: optional(z.string().regex(/^[A-Za-z0-9.:_-]+$/, { error: "must be an IP address or host name" })),
  // Read only to be reported (sni.map maps the default certificate either way), so no value may stop Postfix.
  SKIP_LETS_ENCRYPT: optional(z.string()),
});

/** The variables start reads; --help describes each (MAILCOW_VARIABLES in commands/shared-options.ts). */
export type StartVariable = keyof z.infer<typeof startSchema>;

export interface StartEnv {
  dbName: string;
  dbUser: string;
  dbPass: string;
  hostname: string;
  spamhausDqsKey?: string;
  redisSlaveofIp?: string;
  /** SKIP_LETS_ENCRYPT as mailcow reads it (y/yes in any case): logged, nothing else. */
  skipLetsEncrypt?: boolean;
}

/** Validate start's environment; every bad variable gets one line, all in one UserError. */
export function parseStartEnv(env: Env): StartEnv {
  const parsed = startSchema.safeParse(env);
  if (!parsed.success) throw issuesError(parsed.error);
  const data = parsed.data;
  return Object.freeze({
    dbName: data.DBNAME,
    dbUser: data.DBUSER,
    dbPass: data.DBPASS,
    hostname: data.MAILCOW_HOSTNAME,
    spamhausDqsKey: data.SPAMHAUS_DQS_KEY,
    redisSlaveofIp: data.REDIS_SLAVEOF_IP,
    skipLetsEncrypt: /^([yY][eE][sS]|[yY])+$/.test(data.SKIP_LETS_ENCRYPT ?? ""),
  });
}

const entrypointSchema = startSchema.pick({ REDIS_SLAVEOF_IP: true });

/** The entrypoint only needs to know whether syslog-ng forwards to a Redis replica. */
export function parseEntrypointEnv(env: Env): { redisSlaveofIp?: string } {
  const parsed = entrypointSchema.safeParse(env);
  if (!parsed.success) throw issuesError(parsed.error);
  return { redisSlaveofIp: parsed.data.REDIS_SLAVEOF_IP };
}

/** One UserError whose log lines are one per bad variable. */
function issuesError(error: z.ZodError): UserError {
  const lines = describeIssues(error).split("\n");
  return new UserError(lines.join("\n"), 1, { lines });
}

function describeIssues(error: z.ZodError): string {
  const byVariable = new Map<string, string>();
  for (const issue of error.issues) {
    const name = String(issue.path[0] ?? "environment");
    if (!byVariable.has(name)) byVariable.set(name, issue.message);
  }
  return [...byVariable].map(([name, message]) => `environment variable ${name}: ${message}`).join("\n");
}
