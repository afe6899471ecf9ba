import { readdirSync, readFileSync } from "node:fs";
import { libc, PR_SET_CHILD_SUBREAPER } from "./libc.ts";

// What a hook started may leave its process group (setsid, double fork); a process group kill
// misses it. Made a child subreaper, this process inherits every orphan among its descendants,
// so the whole tree stays findable through /proc's parent links and can be ended.

/** Adopt orphaned descendants (Linux prctl); false where that is not possible. */
export function becomeSubreaper(): boolean {
  try {
    return libc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) === 0;
  } catch {
    return false;
  }
}

/** PID -> parent PID of every process visible in /proc. */
function parentLinks(): Map<number, number> {
  const links = new Map<number, number>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      // "PID (comm) STATE PPID ...": comm may hold spaces and parentheses, so parse after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      links.set(Number(name), ppid);
    } catch {
      // exited meanwhile
    }
  }
  return links;
}

/** Every live descendant of `pid` (children, grandchildren, ...). */
export function descendantsOf(pid: number): number[] {
  const links = parentLinks();
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift()!;
    for (const [child, ppid] of links) {
      if (ppid === parent && !found.includes(child)) {
        found.push(child);
        queue.push(child);
      }
    }
  }
  return found;
}

/** SIGKILL every descendant of this process that is not in `keep`, until none is left (bounded). */
export function killNewDescendants(keep: ReadonlySet<number>): number {
  let killed = 0;
  for (let round = 0; round < 10; round++) {
    const targets = descendantsOf(process.pid).filter((pid) => !keep.has(pid));
    if (targets.length === 0) break;
    for (const pid of targets) {
      try {
        process.kill(pid, "SIGKILL");
        killed++;
      } catch {
        // gone already
      }
    }
  }
  return killed;
}
