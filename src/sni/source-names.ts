import { normalizeName, printable, splitDomainsText } from "./names.ts";
import type { PairReport, Problem, ValidatedSource } from "./types.ts";

// A source's names as its domains file lists them and as its certificate holds them, normalized
// (rejected values become one warning), and how the plan's problems quote lists of names.

/** How many rejected values one warning quotes before summarizing the rest. */
const QUOTED_VALUES = 5;

/** Names a directory's domains file lists, normalized; rejected values become one warning. */
export function directoryNames(validated: ValidatedSource, problems: Problem[]): string[] {
  const { domainsText = "", domainsFile = validated.source.dir } = validated.source;
  const names: string[] = [];
  const rejected: string[] = [];
  for (const word of splitDomainsText(domainsText)) {
    const normalized = normalizeName(word);
    if (normalized.ok) names.push(normalized.name);
    else rejected.push(`${printable(word)} (${normalized.reason})`);
  }
  if (rejected.length > 0) {
    // A domains file linked to /etc/shadow or /proc/self/environ: not one byte of it is quoted.
    const what = validated.source.domainsOutside
      ? `${rejected.length} invalid name${rejected.length === 1 ? "" : "s"} (the file resolves outside the SSL dir; values not shown)`
      : rejectedSummary(rejected);
    problems.push(warning("invalid-name", validated.source.dir, `${domainsFile}: ignored ${what}`));
  }
  if (names.length === 0 && rejected.length === 0) {
    problems.push(warning("no-names", validated.source.dir, `${domainsFile}: lists no names; directory not mapped`));
  }
  return unique(names);
}

export function normalizedCertificateNames(pair: PairReport, problems?: Problem[], sourceDir = ""): string[] {
  const keys: string[] = [];
  const rejected = (pair.rejectedNames ?? []).map(
    (escaped) => `"${escaped}" (not ASCII: a dNSName is an IA5String; internationalized names must be written as A-labels, xn--...)`,
  );
  for (const raw of pair.certificateNames) {
    const normalized = normalizeName(raw);
    if (normalized.ok) keys.push(normalized.name);
    else rejected.push(`${printable(raw)} (${normalized.reason})`);
  }
  if (problems && rejected.length > 0) {
    problems.push(warning("invalid-name", sourceDir, `${pair.files.certFile}: ignored certificate ${rejectedSummary(rejected)}`));
  }
  return unique(keys);
}

function rejectedSummary(rejected: readonly string[]): string {
  const shown = rejected.slice(0, QUOTED_VALUES).join(", ");
  const more = rejected.length > QUOTED_VALUES ? ` and ${rejected.length - QUOTED_VALUES} more` : "";
  return `${rejected.length} invalid name${rejected.length === 1 ? "" : "s"}: ${shown}${more}`;
}

export function quoteList(names: readonly string[]): string {
  const shown = names.slice(0, QUOTED_VALUES).join(", ");
  return names.length > QUOTED_VALUES ? `${shown} and ${names.length - QUOTED_VALUES} more` : shown;
}

export function unique(names: readonly string[]): string[] {
  return [...new Set(names)];
}

export function warning(code: string, source: string, message: string): Problem {
  return { severity: "warning", code, source, message };
}

export function error(code: string, source: string, message: string): Problem {
  return { severity: "error", code, source, message };
}
