import { rmSync } from "node:fs";
import { join } from "node:path";
import { renderTemplate, type Templates } from "../templates/template.ts";
import type { AsnVerdict } from "./asn-check.ts";
import type { StepContext } from "./context.ts";
import { readTextIfExists, writeIfChanged } from "./files.ts";

// postscreen's DNS blocklists: the admin-editable CONF/dns_blocklists.cf (created from mailcow's
// defaults when missing, discontinued lists removed) plus the Spamhaus lines, which depend on a
// DQS key or, without one, on whether this network may use the open lists.

export interface DnsblLines {
  /** Active lines of dns_blocklists.cf (no comments, no blank lines), "" when none. */
  sites: string;
  /** Spamhaus lines appended after them, "" when Spamhaus is not used. */
  spamhaus: string;
}

/** dns_blocklists.cf without lines naming a discontinued list. Pure. */
export function removeDiscontinued(text: string, patterns: readonly string[]): string {
  const regexes = patterns.map((pattern) => new RegExp(pattern));
  const lines = text.split("\n");
  const kept = lines.filter((line, index) => (index === lines.length - 1 && line === "") || !regexes.some((regex) => regex.test(line)));
  return kept.join("\n");
}

/** Lines not starting with `#` that contain something, as mailcow's grep pair selects them. Pure. */
export function activeLines(text: string): string {
  return text
    .split("\n")
    .filter((line) => !line.startsWith("#") && /\S/.test(line))
    .join("\n");
}

/** The Spamhaus part for a DQS key or an ASN verdict, with the log line explaining it. Pure. */
export function spamhausLines(
  templates: Templates,
  dqsKey: string | undefined,
  verdict: AsnVerdict | undefined,
): { lines: string; why: string } {
  if (dqsKey)
    return {
      lines: renderTemplate(templates.spamhausDqsSites, { SPAMHAUS_DQS_KEY: dqsKey }),
      why: "using the Spamhaus DQS lists (SPAMHAUS_DQS_KEY is set)",
    };
  if (verdict?.kind === "not-listed")
    return {
      lines: renderTemplate(templates.spamhausOpenSites, {}),
      why: "using the open Spamhaus lists: this network's AS is not on Spamhaus's banned list",
    };
  if (verdict?.kind === "listed")
    return { lines: "", why: "no Spamhaus lists: this network's AS is banned by Spamhaus and SPAMHAUS_DQS_KEY is not set" };
  return {
    lines: "",
    why: `no Spamhaus lists: could not check this network's AS (${verdict?.reason ?? "not checked"}); set SPAMHAUS_DQS_KEY to use them`,
  };
}

/**
 * Bring dns_blocklists.cf and dnsbl_reply.map up to date and return the lines for main.cf.
 * `checkAsn` is only called without a DQS key and with active blocklists, as mailcow's script does.
 */
export async function prepareDnsbl(context: StepContext, checkAsn: () => Promise<AsnVerdict>): Promise<DnsblLines> {
  const { confDir } = context.paths;
  const { templates, log } = context;
  const blocklistsFile = join(confDir, "dns_blocklists.cf");
  const replyMapFile = join(confDir, "dnsbl_reply.map");

  const existing = readTextIfExists(blocklistsFile);
  if (existing === undefined) log.info(`creating ${blocklistsFile} with mailcow's default blocklists`);
  const original = existing ?? renderTemplate(templates.dnsblSites, {});
  const cleaned = removeDiscontinued(original, templates.discontinuedDnsbl);
  if (existing !== undefined && cleaned !== existing) log.info(`removed discontinued blocklists from ${blocklistsFile}`);
  writeIfChanged(blocklistsFile, cleaned, { mode: 0o644, preserve: true });

  const sites = activeLines(cleaned);
  if (sites === "") {
    log.info(`no active blocklists in ${blocklistsFile}; postscreen DNSBL checks stay off`);
    return { sites: "", spamhaus: "" };
  }
  const dqsKey = context.env.spamhausDqsKey;
  if (dqsKey) {
    writeIfChanged(replyMapFile, renderTemplate(templates.spamhausDqsReplyMap, { SPAMHAUS_DQS_KEY: dqsKey }), { mode: 0o644 });
  } else {
    rmSync(replyMapFile, { force: true });
  }
  const choice = spamhausLines(templates, dqsKey, dqsKey ? undefined : await checkAsn());
  log.info(choice.why);
  return { sites, spamhaus: choice.lines };
}
