import { closeSync, constants, existsSync, openSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../errors.ts";
import { libc, LOCK_EX, LOCK_NB } from "../libc.ts";
import type { Logger } from "../log.ts";

// A master.pid left by a killed container makes Postfix refuse to start. Deleting it
// unconditionally (as mailcow's script does) would also delete a live master's; it goes only
// when no master holds its lock. A running master keeps an exclusive flock on it (Postfix's
// INTERNAL_LOCK is flock on Linux, sys_defs.h); when this process can take that lock itself, no
// master runs. Otherwise Postfix's own test (`master -t`, a process start) decides.

export async function removeStaleMasterPid(spoolDir: string, isMasterRunning: () => Promise<boolean>, log: Logger): Promise<void> {
  const pidFile = join(spoolDir, "pid", "master.pid");
  if (!existsSync(pidFile)) return;
  if (!nobodyHoldsLock(pidFile) && (await isMasterRunning())) {
    const pid = readFileSync(pidFile, "utf8").trim();
    throw new UserError(`a Postfix master (pid ${pid || "unknown"}) still holds ${pidFile}; stop it before starting another`);
  }
  rmSync(pidFile, { force: true });
  log.info(`removed stale ${pidFile}`);
}

/**
 * Whether this process could take an exclusive flock on PATH (and so released it at once): then
 * no master holds it. False when the lock is held, or the test could not be made.
 */
export function nobodyHoldsLock(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  } catch {
    return false;
  }
  try {
    return libc().flock(fd, LOCK_EX | LOCK_NB) === 0;
  } finally {
    closeSync(fd); // releases the lock, if taken
  }
}
