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

export function planSniMap(sources: readonly ValidatedSource[], hostname: string | undefined, now: Date): SniPlan {
  const problems: Problem[] = [];
  const directories = sources.filter((candidate) => candidate.source.kind === "directory");
  const claims = claimDirectoryNames(directories, now, problems);
  const defaultSource = sources.find((candidate) => candidate.source.kind === "default");
  if (defaultSource?.usable) keepDefaultNames(defaultSource, hostname, claims, now, problems);
  const { claimedBy } = claims;
  const namesOf = new Map<ValidatedSource, string[]>();
  for (const [name, winner] of claimedBy) namesOf.set(winner, [...(namesOf.get(winner) ?? []), name]);
  for (const validated of directories) {
    const uncovered = (namesOf.get(validated) ?? []).filter((name) => !certificateCovers(claims.certificateKeysOf.get(validated) ?? [], name));
    if (uncovered.length > 0) {
      problems.push(warning("name-not-covered", validated.source.dir, `${validated.source.dir}: the certificate does not cover ${quoteList(uncovered)}; clients that verify names will reject it for them`));
    }
  }

  const entries: MapEntry[] = [];
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

/** Which directory serves each name the usable directories list, and their certificates' names. */
interface Claims {
  claimedBy: Map<string, ValidatedSource>;
  certificateKeysOf: Map<ValidatedSource, string[]>;
  usable(validated: ValidatedSource, name: string): boolean;
}

/** Each name to the directory that serves it best (pickClaimant), one warning per pair of directories that both list names. */
function claimDirectoryNames(directories: readonly ValidatedSource[], now: Date, problems: Problem[]): Claims {
  const claimants = new Map<string, ValidatedSource[]>();
  const certificateKeysOf = new Map<ValidatedSource, string[]>();
  for (const validated of directories) {
    const names = directoryNames(validated, problems);
    if (!reportUnusable(validated, names, problems)) continue;
    certificateKeysOf.set(validated, normalizedCertificateNames(validated.main));
    for (const name of names) claimants.set(name, [...(claimants.get(name) ?? []), validated]);
  }
  const usable = (validated: ValidatedSource, name: string) => usableFor(validated, certificateKeysOf.get(validated) ?? [], name, now);
  const claimedBy = new Map<string, ValidatedSource>();
  const conflicts = new Map<string, { winner: string; loser: string; why: string; names: string[] }>();
  for (const [name, candidates] of claimants) {
    const winner = pickClaimant(candidates, (candidate) => usable(candidate, name));
    claimedBy.set(name, winner);
    for (const loser of candidates.filter((candidate) => candidate !== winner)) {
      const why = usable(winner, name) && !usable(loser, name) ? "valid now and covering the name" : notAfterOf(winner) > notAfterOf(loser) ? "valid longer" : "first in name order";
      const key = `${winner.source.dir}\0${loser.source.dir}\0${why}`;
      const conflict = conflicts.get(key) ?? { winner: winner.source.dir, loser: loser.source.dir, why, names: [] };
      conflict.names.push(name);
      conflicts.set(key, conflict);
    }
  }
  for (const { winner, loser, why, names } of conflicts.values()) {
    problems.push(warning("name-conflict", loser, `${quoteList(names)} listed by both ${winner} and ${loser}; mapped to ${winner} (${why})`));
  }
  return { claimedBy, certificateKeysOf, usable };
}

/** A directory wins the default certificate's names, unless the default is usable for a name and the directory is not: those go back to the default. */
function keepDefaultNames(defaultSource: ValidatedSource, hostname: string | undefined, claims: Claims, now: Date, problems: Problem[]): void {
  const defaultKeys = normalizedCertificateNames(defaultSource.main);
  const kept = new Map<string, string[]>();
  for (const [name, winner] of claims.claimedBy) {
    if (name !== hostname && !defaultKeys.includes(name)) continue;
    if (usableFor(defaultSource, defaultKeys, name, now) && !claims.usable(winner, name)) {
      claims.claimedBy.delete(name);
      kept.set(winner.source.dir, [...(kept.get(winner.source.dir) ?? []), name]);
    }
  }
  for (const [dir, names] of kept) {
    const them = names.length === 1 ? "it" : "them";
    problems.push(warning("default-name-kept", dir, `${quoteList(names)} listed by ${dir}, whose certificate is expired, not yet valid or does not cover ${them}: mapped to the default certificate, which is valid and covers ${them}`));
  }
}

/**
 * Which of several usable sources listing one name serves it: one valid now and covering the
 * name beats the others; then the one valid longest (latest notAfter); then the first in byte order.
 */
function pickClaimant(candidates: readonly ValidatedSource[], usable: (candidate: ValidatedSource) => boolean): ValidatedSource {
  let best = candidates[0]!;
  for (const candidate of candidates.slice(1)) {
    const [bestUsable, candidateUsable] = [usable(best), usable(candidate)];
    if (candidateUsable !== bestUsable ? candidateUsable : notAfterOf(candidate) > notAfterOf(best)) best = candidate;
  }
  return best;
}

/** Valid at `now` and covering `name`: what a verifying client accepts for it. */
function usableFor(validated: ValidatedSource, certificateKeys: readonly string[], name: string, now: Date): boolean {
  const { notBefore, notAfter } = validated.main;
  const time = now.getTime();
  return (!notBefore || Date.parse(notBefore) <= time) && (!notAfter || Date.parse(notAfter) > time) && certificateCovers(certificateKeys, name);
}

function notAfterOf(validated: ValidatedSource): number {
  return validated.main.notAfter ? Date.parse(validated.main.notAfter) : 0;
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
