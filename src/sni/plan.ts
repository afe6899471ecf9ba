import { claimDirectoryNames, keepDefaultNames, reportUnusable } from "./claims.ts";
import { certificateCovers } from "./names.ts";
import { normalizedCertificateNames, quoteList, unique, warning } from "./source-names.ts";
import type { MapEntry, Problem, ValidatedSource } from "./types.ts";

// Pure: validated sources + hostname -> the map's entries and what is wrong. Deterministic:
// the default certificate's names first, then directories in byte order, names sorted.

export interface SniPlan {
  entries: MapEntry[];
  problems: Problem[];
}

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
    const uncovered = (namesOf.get(validated) ?? []).filter(
      (name) => !certificateCovers(claims.certificateKeysOf.get(validated) ?? [], name),
    );
    if (uncovered.length > 0) {
      problems.push(
        warning(
          "name-not-covered",
          validated.source.dir,
          `${validated.source.dir}: the certificate does not cover ${quoteList(uncovered)}; clients that verify names will reject it for them`,
        ),
      );
    }
  }

  const entries: MapEntry[] = [];
  if (defaultSource) {
    const certificateKeys = normalizedCertificateNames(defaultSource.main, problems, defaultSource.source.dir);
    const names = unique([...(hostname ? [hostname] : []), ...certificateKeys]);
    if (reportUnusable(defaultSource, names, problems)) {
      if (hostname && !certificateCovers(certificateKeys, hostname)) {
        problems.push(
          warning(
            "hostname-not-covered",
            defaultSource.source.dir,
            `${defaultSource.main.files.certFile}: the default certificate does not cover the hostname ${hostname}`,
          ),
        );
      }
      const claimed = names.filter((name) => claimedBy.has(name));
      for (const [dir, overlap] of groupByClaimer(claimed, claimedBy)) {
        problems.push(
          warning(
            "default-name-claimed",
            dir,
            `${quoteList(overlap)} ${overlap.length === 1 ? "is a name" : "are names"} of the default certificate (or the hostname) and listed by ${dir}: mapped to ${dir} (a directory wins over the default certificate)`,
          ),
        );
      }
      entries.push(
        ...entriesFor(
          defaultSource,
          names.filter((name) => !claimedBy.has(name)),
        ),
      );
    }
  }
  for (const validated of sources) {
    const own = namesOf.get(validated);
    if (own) entries.push(...entriesFor(validated, own));
  }
  return { entries, problems };
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

function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
