import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";

// Temp files and directories of runs that were killed (some hold key material or the database
// password) are removed by the next run. Where they are is fixed; whether an entry's writer is
// gone is decided by a rule that fits what protects the directory: the conf dir's lock, or the
// PID in the name. (The SNI build's copies in /dev/shm, which may be shared beyond one lock and
// one PID namespace, have their own rule in sni/.)

/** Whether the entry NAME was left by a run that is gone. */
export type LeftoverRule = (name: string) => boolean;

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

/** Remove every entry of DIR that `isLeftover` picks, directories with their contents; how many. Never throws. */
export function removeLeftovers(dir: string, isLeftover: LeftoverRule): number {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0; // a missing or unreadable dir is reported by the write that follows, if it matters
  }
  let removed = 0;
  for (const name of names.filter(isLeftover)) {
    try {
      rmSync(join(dir, name), { recursive: true, force: true });
      removed++;
    } catch {
      // Gone already, or not ours to remove: left alone.
    }
  }
  return removed;
}
