import { certificateCovers, printable } from "./names.ts";
import { directoryNames, error, normalizedCertificateNames, quoteList, warning } from "./source-names.ts";
import type { Problem, ValidatedSource } from "./types.ts";

// Which source serves each name (plan.ts): only a source that can be mapped lists names; of
// directories listing one name, the one valid now and covering it wins, then the one valid
// longest; the default certificate keeps its names from directories unusable for them.

/** Which directory serves each name the usable directories list, and their certificates' names. */
export interface Claims {
  claimedBy: Map<string, ValidatedSource>;
  certificateKeysOf: Map<ValidatedSource, string[]>;
  usable(validated: ValidatedSource, name: string): boolean;
}

/** Each name to the directory that serves it best (pickClaimant), one warning per pair of directories that both list names. */
export function claimDirectoryNames(directories: readonly ValidatedSource[], now: Date, problems: Problem[]): Claims {
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
      const why =
        usable(winner, name) && !usable(loser, name)
          ? "valid now and covering the name"
          : notAfterOf(winner) > notAfterOf(loser)
            ? "valid longer"
            : "first in name order";
      const key = `${winner.source.dir}\0${loser.source.dir}\0${why}`;
      const conflict = conflicts.get(key) ?? { winner: winner.source.dir, loser: loser.source.dir, why, names: [] };
      conflict.names.push(name);
      conflicts.set(key, conflict);
    }
  }
  for (const { winner, loser, why, names } of conflicts.values()) {
    problems.push(
      warning("name-conflict", loser, `${quoteList(names)} listed by both ${winner} and ${loser}; mapped to ${winner} (${why})`),
    );
  }
  return { claimedBy, certificateKeysOf, usable };
}

/** A directory wins the default certificate's names, unless the default is usable for a name and the directory is not: those go back to the default. */
export function keepDefaultNames(
  defaultSource: ValidatedSource,
  hostname: string | undefined,
  claims: Claims,
  now: Date,
  problems: Problem[],
): void {
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
    problems.push(
      warning(
        "default-name-kept",
        dir,
        `${quoteList(names)} listed by ${dir}, whose certificate is expired, not yet valid or does not cover ${them}: mapped to the default certificate, which is valid and covers ${them}`,
      ),
    );
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
  return (
    (!notBefore || Date.parse(notBefore) <= time) && (!notAfter || Date.parse(notAfter) > time) && certificateCovers(certificateKeys, name)
  );
}

function notAfterOf(validated: ValidatedSource): number {
  return validated.main.notAfter ? Date.parse(validated.main.notAfter) : 0;
}

/** One error line for an unusable source, naming its consequence; true when the source can be mapped. */
export function reportUnusable(validated: ValidatedSource, names: readonly string[], problems: Problem[]): boolean {
  const { source } = validated;
  const badPath = [source.main, source.ecdsa]
    .flatMap((pair) => (pair ? [pair.keyFile, pair.certFile] : []))
    .find((path) => /[\s,]/.test(path));
  if (badPath) {
    problems.push(
      error(
        "path-unusable",
        source.dir,
        `${source.dir}: path ${printable(badPath)} contains whitespace or a comma, which Postfix map values cannot hold; rename the directory`,
      ),
    );
    return false;
  }
  if (!validated.usable) {
    const failure = validated.main.failure ?? { code: "invalid", reason: "unusable" };
    const consequence =
      source.kind === "default"
        ? "the default certificate is not mapped (names without a directory get Postfix's default chain)"
        : `not mapped; ${names.length > 0 ? quoteList(names) : "its names"} ${names.length === 1 ? "gets" : "get"} the default certificate`;
    problems.push({
      severity: failure.severity ?? "error",
      code: failure.code,
      source: source.dir,
      message: `${source.dir}: ${failure.reason}; ${consequence}`,
    });
    return false;
  }
  if (validated.ecdsa?.failure) {
    const failure = validated.ecdsa.failure;
    problems.push({
      severity: failure.severity ?? "error",
      code: `ecdsa-${failure.code}`,
      source: source.dir,
      message: `${source.dir}: ${failure.reason}; ECDSA pair left out, the main pair is served`,
    });
  }
  return true;
}
