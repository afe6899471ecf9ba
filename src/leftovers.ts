import { existsSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";

// Temp files and directories of runs that were killed (some hold key material or the database
// password) are removed by the next run. Where they are is fixed; whether an entry's writer is
// gone is decided by one of three rules, by what protects the directory: the conf dir's lock,
// the PID in the name, or age where neither works.

/** Whether the entry NAME (at PATH) was left by a run that is gone. */
export type LeftoverRule = (name: string, path: string) => boolean;

/** Names matching `pattern`, all of them: for a directory only lock holders write in, swept with the lock held. */
export function anyMatching(pattern: RegExp): LeftoverRule {
  return (name) => pattern.test(name);
}

/** Names matching `pattern` whose first group is a PID that no longer runs: for a directory of this PID namespace. */
export function ofGoneProcess(pattern: RegExp): LeftoverRule {
  return (name) => {
    const pid = pattern.exec(name)?.[1];
    return pid !== undefined && !existsSync(`/proc/${pid}`);
  };
}

/** Names matching `pattern`, older than `maxAgeMs`: for a directory shared beyond one lock and one PID namespace. */
export function olderThan(pattern: RegExp, maxAgeMs: number): LeftoverRule {
  return (name, path) => pattern.test(name) && Date.now() - statSync(path).mtimeMs > maxAgeMs;
}

/** Remove every entry of DIR that `isLeftover` picks, directories with their contents; how many. Never throws. */
export function removeLeftovers(dir: string, isLeftover: LeftoverRule): number {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0; // a missing or unreadable dir is reported by the write that follows, if it matters
  }
  let removed = 0;
  for (const name of names) {
    const path = join(dir, name);
    try {
      if (!isLeftover(name, path)) continue;
      rmSync(path, { recursive: true, force: true });
      removed++;
    } catch {
      // Gone already, or not ours to remove: left alone.
    }
  }
  return removed;
}
