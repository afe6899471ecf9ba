import { certificateCovers, normalizeName, printable, splitDomainsText } from "./names.ts";
import type { MapEntry, PairReport, Problem, ValidatedSource } from "./types.ts";

// Pure: validated sources + hostname -> the map's entries and what is wrong. Deterministic:
// the default certificate's names first, then directories in byte order, names sorted.

export interface SniPlan {
  entries: MapEntry[];
  problems: Problem[];
}

/** How many rejected values one warning quotes before summarizing the rest. */
const QUOTED_VALUES = 5;

export function planSniMap(sources: readonly ValidatedSource[], hostname: string | undefined): SniPlan {
  const problems: Problem[] = [];
  const claimedBy = new Map<string, ValidatedSource>();
  const namesOf = new Map<ValidatedSource, string[]>();
  const conflicts = new Map<string, { winner: string; loser: string; names: string[] }>();

  for (const validated of sources.filter((candidate) => candidate.source.kind === "directory")) {
    const names = directoryNames(validated, problems);
    if (!reportUnusable(validated, names, problems)) continue;
    const own: string[] = [];
    for (const name of names) {
      const winner = claimedBy.get(name);
      if (winner) {
        const key = `${winner.source.dir}\0${validated.source.dir}`;
        const conflict = conflicts.get(key) ?? { winner: winner.source.dir, loser: validated.source.dir, names: [] };
        conflict.names.push(name);
        conflicts.set(key, conflict);
        continue;
      }
      claimedBy.set(name, validated);
      own.push(name);
    }
    namesOf.set(validated, own);
    const certificateKeys = normalizedCertificateNames(validated.main);
    const uncovered = own.filter((name) => !certificateCovers(certificateKeys, name));
    if (uncovered.length > 0) {
      problems.push(warning("name-not-covered", validated.source.dir, `${validated.source.dir}: the certificate does not cover ${quoteList(uncovered)}; clients that verify names will reject it for them`));
    }
  }
  for (const { winner, loser, names } of conflicts.values()) {
    problems.push(warning("name-conflict", loser, `${quoteList(names)} listed by both ${winner} and ${loser}; mapped to ${winner} (first in name order)`));
  }

  const entries: MapEntry[] = [];
  const defaultSource = sources.find((candidate) => candidate.source.kind === "default");
  if (defaultSource) {
    const certificateKeys = normalizedCertificateNames(defaultSource.main, problems, defaultSource.source.dir);
    const names = unique([...(hostname ? [hostname] : []), ...certificateKeys]);
    if (reportUnusable(defaultSource, names, problems)) {
      if (hostname && !certificateCovers(certificateKeys, hostname)) {
        problems.push(warning("hostname-not-covered", defaultSource.source.dir, `${defaultSource.main.files.certFile}: the default certificate does not cover the hostname ${hostname}`));
      }
      const claimed = names.filter((name) => claimedBy.has(name));
      for (const [dir, overlap] of groupByClaimer(claimed, claimedBy)) {
        problems.push(warning("default-name-claimed", dir, `${quoteList(overlap)} ${overlap.length === 1 ? "is a name" : "are names"} of the default certificate (or the hostname) and listed by ${dir}: mapped to ${dir} (a directory wins over the default certificate)`));
      }
      entries.push(...entriesFor(defaultSource, names.filter((name) => !claimedBy.has(name))));
    }
  }
  for (const validated of sources) {
    const own = namesOf.get(validated);
    if (own) entries.push(...entriesFor(validated, own));
  }
  return { entries, problems };
}

/** Names a directory's domains file lists, normalized; rejected values become one warning. */
function directoryNames(validated: ValidatedSource, problems: Problem[]): string[] {
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

/** One error line for an unusable source, naming its consequence; true when the source can be mapped. */
function reportUnusable(validated: ValidatedSource, names: readonly string[], problems: Problem[]): boolean {
  const { source } = validated;
  const badPath = [source.main, source.ecdsa].flatMap((pair) => (pair ? [pair.keyFile, pair.certFile] : [])).find((path) => /[\s,]/.test(path));
  if (badPath) {
    problems.push(error("path-unusable", source.dir, `${source.dir}: path ${printable(badPath)} contains whitespace or a comma, which Postfix map values cannot hold; rename the directory`));
    return false;
  }
  if (!validated.usable) {
    const failure = validated.main.failure ?? { code: "invalid", reason: "unusable" };
    const consequence = source.kind === "default"
      ? "the default certificate is not mapped (names without a directory get Postfix's default chain)"
      : `not mapped; ${names.length > 0 ? quoteList(names) : "its names"} ${names.length === 1 ? "gets" : "get"} the default certificate`;
    problems.push({ severity: failure.severity ?? "error", code: failure.code, source: source.dir, message: `${source.dir}: ${failure.reason}; ${consequence}` });
    return false;
  }
  if (validated.ecdsa?.failure) {
    const failure = validated.ecdsa.failure;
    problems.push({ severity: failure.severity ?? "error", code: `ecdsa-${failure.code}`, source: source.dir, message: `${source.dir}: ${failure.reason}; ECDSA pair left out, the main pair is served` });
  }
  return true;
}

function entriesFor(validated: ValidatedSource, names: readonly string[]): MapEntry[] {
  const value = validated.value;
  if (!value) return [];
  const pairs = [validated.main, ...(validated.ecdsa?.valid ? [validated.ecdsa] : [])];
  const files = pairs.flatMap((pair) => [pair.files.keyFile, pair.files.certFile]);
  return [...names].sort(compareNames).map((name) => ({ name, sourceDir: validated.source.dir, files, value }));
}

/** Names grouped by the directory that claimed them. */
function groupByClaimer(names: readonly string[], claimedBy: ReadonlyMap<string, ValidatedSource>): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const name of names) {
    const dir = claimedBy.get(name)!.source.dir;
    groups.set(dir, [...(groups.get(dir) ?? []), name]);
  }
  return groups;
}

function normalizedCertificateNames(pair: PairReport, problems?: Problem[], sourceDir = ""): string[] {
  const keys: string[] = [];
  const rejected = (pair.rejectedNames ?? []).map((escaped) => `"${escaped}" (not ASCII: a dNSName is an IA5String; internationalized names must be written as A-labels, xn--...)`);
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

function quoteList(names: readonly string[]): string {
  const shown = names.slice(0, QUOTED_VALUES).join(", ");
  return names.length > QUOTED_VALUES ? `${shown} and ${names.length - QUOTED_VALUES} more` : shown;
}

function unique(names: readonly string[]): string[] {
  return [...new Set(names)];
}

function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function warning(code: string, source: string, message: string): Problem {
  return { severity: "warning", code, source, message };
}

function error(code: string, source: string, message: string): Problem {
  return { severity: "error", code, source, message };
}
