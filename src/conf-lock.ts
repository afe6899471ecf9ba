import { accessSync, closeSync, constants, openSync } from "node:fs";
import { join } from "node:path";
import { errnoText, UserError } from "./errors.ts";
import { anyMatching, removeLeftovers } from "./leftovers.ts";
import { libc, LOCK_EX, LOCK_NB, LOCK_UN } from "./libc.ts";
import type { Logger } from "./log.ts";

// One writer at a time in the conf dir. `sni-map`, `reload` and `start` write the same files
// (sni.map + sni.map.db above all, which must come from the same run); two of them at once
// would mix their outputs. Each takes an exclusive flock(2) on the conf dir itself (a directory
// can be flocked through a read-only descriptor) for as long as it writes: no lock file, since
// mailcow's data/conf/postfix is part of the admin's git checkout and a file of ours there would
// end up in update.sh's `git add -A`. The kernel drops the lock when its holder dies, SIGKILL
// included, so a killed run never blocks the next one. flock through libc (libc.ts).

const POLL_MS = 50;

/**
 * Temp files of our writers: `.NAME.<12 hex>.tmp` (atomic-write.ts), postmap's `.db` beside one,
 * Berkeley DB's `__db.` scratch file of that, and the private copy of the keys (`.d`, write.ts).
 */
const TEMP_FILE = /^(__db)?\..+\.[0-9a-f]{12}\.tmp(\.db|\.d)?$/;

/**
 * Run `write` holding the conf dir's lock. First, with the lock held, temp files of killed runs
 * (which may hold key material) are removed: no other writer can be using them.
 */
export async function withConfLock<T>(confDir: string, log: Logger, waitMs: number, write: () => Promise<T>): Promise<T> {
  using _lock = await lockConfDir(confDir, log, waitMs);
  return await write();
}

/**
 * The same lock for a whole function body: `using lock = await lockConfDir(...)` holds it until
 * the scope ends (or until exec: the descriptor is close-on-exec, so master does not keep it).
 * `waitMs`: how long to wait for another run to finish its writes (--lock-timeout).
 */
export async function lockConfDir(confDir: string, log: Logger, waitMs: number): Promise<Disposable> {
  const path = confDir;
  let fd: number;
  try {
    fd = openSync(confDir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NONBLOCK);
  } catch (error) {
    const code = errnoText(error);
    throw new UserError(
      `cannot open the conf dir ${confDir}: ${code}; it must be an existing, writable directory (mailcow: data/conf/postfix -> /opt/postfix/conf)`,
      1,
      { cause: error },
    );
  }
  // A read-only descriptor takes the lock even where nothing can be written: say so now, in
  // one line, instead of after the work (read-only mount, another owner).
  try {
    accessSync(confDir, constants.W_OK);
  } catch (error) {
    closeSync(fd);
    const code = errnoText(error);
    throw new UserError(
      `cannot create files in ${confDir}: ${code}; the conf dir must be writable (mailcow: data/conf/postfix -> /opt/postfix/conf)`,
      1,
      { cause: error },
    );
  }
  const { flock } = libc();
  const release = () => {
    flock(fd, LOCK_UN);
    closeSync(fd);
  };
  try {
    await acquire(fd, flock, path, log, waitMs);
    removeLeftoverTempFiles(confDir, log);
  } catch (error) {
    release();
    throw error;
  }
  let held = true;
  return {
    [Symbol.dispose]() {
      if (!held) return;
      held = false;
      release();
    },
  };
}

async function acquire(
  fd: number,
  flock: (fd: number, operation: number) => number,
  path: string,
  log: Logger,
  waitMs: number,
): Promise<void> {
  const started = Date.now();
  let announced = false;
  while (flock(fd, LOCK_EX | LOCK_NB) !== 0) {
    const waited = Date.now() - started;
    if (waited >= waitMs) {
      throw new UserError(
        `another mailcow-postfix-init run (sni-map, reload or start) still holds the lock on ${path} after ${Math.round(waited / 100) / 10}s; nothing was written. Retry when it has finished (--lock-timeout / MPI_LOCK_TIMEOUT sets the wait)`,
      );
    }
    if (!announced) {
      log.info(`waiting for another mailcow-postfix-init run to finish writing in the conf dir (${path})`);
      announced = true;
    }
    await Bun.sleep(Math.min(POLL_MS, waitMs - waited));
  }
}

/** Called with the lock held: every temp file present was left by a run that died. */
function removeLeftoverTempFiles(confDir: string, log: Logger): void {
  let removed = 0;
  for (const dir of [confDir, join(confDir, "sql")]) removed += removeLeftovers(dir, anyMatching(TEMP_FILE));
  if (removed > 0) log.info(`removed ${removed} temp file${removed === 1 ? "" : "s"} left by an interrupted run in ${confDir}`);
}
