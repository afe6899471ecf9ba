import type { SniMapResult } from "../sni/index.ts";
import type { MapEntry, Problem, ValidatedSource } from "../sni/types.ts";

// A renewal that leaves a pair Postfix cannot load (a key from one run and a certificate from
// another, a truncated file, a script that copied the wrong file) must not take a working
// certificate away from the names it served. The watcher keeps, per source, the entries of its
// last pair that loaded and maps them again while the new files do not load, until that pair
// expires; then the names fall back to the default certificate as the engine maps them. A
// directory that is removed, or whose names move to another directory, is not held: only a
// source that is still there and broken is. The kept values are the bytes that were judged
// and embedded before (memory only, never written anywhere but sni.map.db).

export interface KeptPair {
  /** The entries this source mapped when it last loaded. */
  entries: MapEntry[];
  /** Earliest notAfter of the pairs in the value (ms since the epoch); Infinity when unknown. */
  expiresAt: number;
}

export type LastGood = ReadonlyMap<string, KeptPair>;

export interface Retained {
  entries: MapEntry[];
  /** The plan's problems, with a held source's "not mapped" line replaced by what is done instead. */
  problems: Problem[];
  next: Map<string, KeptPair>;
  /** Sources whose last good pair is mapped in place of their broken files. */
  held: string[];
  /** When the earliest held pair expires (then the watcher applies again); undefined: none held. */
  nextExpiry?: number;
}

/** The plan's entries, plus the last good pair of every source that is present but does not load. Pure. */
export function retainLastGood(previous: LastGood, result: SniMapResult, now: Date): Retained {
  const next = new Map<string, KeptPair>();
  const mappedBy = new Map(result.entries.map((entry) => [entry.name, entry.sourceDir] as const));
  const entries = [...result.entries];
  const problems = [...result.problems];
  const held: string[] = [];
  let nextExpiry: number | undefined;
  for (const validated of result.sources) {
    const dir = validated.source.dir;
    if (validated.usable) {
      next.set(dir, { entries: result.entries.filter((entry) => entry.sourceDir === dir), expiresAt: expiryOf(validated) });
      continue;
    }
    const kept = previous.get(dir);
    if (!kept || kept.entries.length === 0) continue;
    const failure = validated.main.failure;
    const index = problems.findIndex((problem) => problem.source === dir && problem.code === failure?.code);
    const reason = failure?.reason ?? "the pair does not load";
    if (kept.expiresAt <= now.getTime()) {
      if (index >= 0)
        problems[index] = {
          ...problems[index]!,
          message: `${problems[index]!.message} (the last pair that loaded expired on ${new Date(kept.expiresAt).toISOString()})`,
        };
      continue;
    }
    // A name another directory maps now stays with it; the default certificate yields.
    const names = kept.entries.filter((entry) => {
      const owner = mappedBy.get(entry.name);
      return owner === undefined || (owner === result.sslDir && dir !== result.sslDir);
    });
    if (names.length === 0) continue;
    const taken = new Set(names.map((entry) => entry.name));
    for (let position = entries.length - 1; position >= 0; position--) if (taken.has(entries[position]!.name)) entries.splice(position, 1);
    entries.push(...names);
    next.set(dir, kept);
    held.push(dir);
    nextExpiry = Math.min(nextExpiry ?? Infinity, kept.expiresAt);
    const holding: Problem = {
      severity: "error",
      code: "kept-last-good",
      source: dir,
      message: `${dir}: ${reason}; the last pair that loaded stays mapped for ${nameList(names)} until it expires (${new Date(kept.expiresAt).toISOString()}) or the files load again. Fix or renew the certificate there`,
    };
    if (index >= 0) problems[index] = holding;
    else problems.push(holding);
  }
  // In the engine's order (sources as discovered, names sorted within each), so a kept pair
  // renders the same map text as when it was last mapped and the table counts as unchanged.
  const order = new Map(result.sources.map((validated, index) => [validated.source.dir, index] as const));
  entries.sort((a, b) => order.get(a.sourceDir)! - order.get(b.sourceDir)!);
  return { entries, problems, next, held, nextExpiry };
}

/** The earliest notAfter of the pairs whose bytes the value holds. */
export function expiryOf(validated: ValidatedSource): number {
  const reports = [validated.main, ...(validated.ecdsa?.valid ? [validated.ecdsa] : [])];
  const times = reports.map((report) => (report.notAfter ? Date.parse(report.notAfter) : Infinity)).filter((time) => !Number.isNaN(time));
  return times.length === 0 ? Infinity : Math.min(...times);
}

function nameList(entries: readonly MapEntry[]): string {
  const shown = entries
    .slice(0, 5)
    .map((entry) => entry.name)
    .join(", ");
  return entries.length > 5 ? `${shown} and ${entries.length - 5} more` : shown;
}
