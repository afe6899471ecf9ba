import { closeSync, constants, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { removeLeftovers } from "../leftovers.ts";
import { LOCK_EX, LOCK_NB, libc } from "../libc.ts";

// The private copy of the judged bytes that postmap -F embeds (write.ts) holds private keys:
// it must not outlive the run that made it. Its owner holds an flock(2) on the directory for as
// long as it uses it; the kernel drops the lock when the owner ends, SIGKILL included. So the
// next run can tell a copy whose run is gone, whatever its age, from one still in use by a run
// beside it (another conf dir, another container or PID namespace sharing /dev/shm, where a PID
// names another process or none). The name carries the owner's PID and start time, for people
// reading /dev/shm, not as the test of ownership. It is removed by the run itself on
// every way out: done, failed, process.exit, and SIGTERM/SIGINT/SIGHUP where the program has
// no handler of its own (one that has, like `watch`, finishes its build and removes it then).
// Only SIGKILL (or a crash of the runtime) leaves one behind, for the next run to remove.

/**
 * Shared memory first: 2,000 small files cost ~30 ms there and 0.2-0.9 s on a disk, and none
 * of them reaches the admin's disk (in a container /dev/shm is the container's own tmpfs).
 */
export const MEMORY_DIR = "/dev/shm";
export const COPY_PREFIX = "mailcow-postfix-init-sni-";
/** A copy named without its owner (an older version's): removed once this old, as before. */
const UNOWNED_STALE_MS = 10 * 60 * 1000;
const GUARDED_SIGNALS = ["SIGTERM", "SIGINT", "SIGHUP"] as const;
/** A copy being set up (created, not yet locked): judged by age, never by its lock. */
const PENDING = "new-";

export interface PrivateCopyDir {
  readonly dir: string;
  /** Remove it (idempotent, never throws). */
  remove(): void;
}

/** `PID-STARTTIME` of a process from /proc, or undefined when it does not exist (any more). */
export function processTag(pid: number | "self"): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // "PID (comm) STATE PPID ...": comm may hold spaces and parentheses; starttime is field 22.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return `${stat.slice(0, stat.indexOf(" "))}-${fields[19]}`;
  } catch {
    return undefined;
  }
}

const live = new Set<string>();

/**
 * A new 0700 directory for the copy: in `memoryDir` (named after this process) when given and
 * possible, else `fallbackDir` (in the conf dir, where the conf lock's holder sweeps
 * leftovers). Copies left in `memoryDir` by runs that no longer exist are removed first.
 */
export function createPrivateCopyDir(fallbackDir: string, memoryDir: string | undefined): PrivateCopyDir {
  let dir: string | undefined;
  let lock: number | undefined;
  if (memoryDir !== undefined) {
    removeDeadCopies(memoryDir);
    const owned = ownedMemoryDir(memoryDir);
    if (owned) ({ dir, lock } = owned);
  }
  if (dir === undefined) {
    mkdirSync(fallbackDir, { mode: 0o700 }); // errors reported by the caller
    dir = fallbackDir;
  }
  const path = dir;
  live.add(path);
  guard();
  return {
    dir: path,
    remove() {
      removeQuietly(path);
      if (lock !== undefined) closeSync(lock); // releases the flock
      lock = undefined;
      live.delete(path);
      if (live.size === 0) unguard();
    },
  };
}

/**
 * A new 0700 directory in `memoryDir`, locked by this process: made under a pending name (a
 * sweep beside us judges that by age only), locked, then renamed to its owner's name (the lock
 * belongs to the directory, not its name). Undefined when `memoryDir` is absent or full.
 */
function ownedMemoryDir(memoryDir: string): { dir: string; lock: number | undefined } | undefined {
  let pending: string;
  try {
    pending = mkdtempSync(join(memoryDir, `${COPY_PREFIX}${PENDING}`));
  } catch {
    return undefined;
  }
  const lock = lockDirectory(pending);
  const dir = join(
    memoryDir,
    `${COPY_PREFIX}${processTag("self") ?? `${process.pid}-0`}-${pending.slice(pending.lastIndexOf(PENDING) + PENDING.length)}`,
  );
  try {
    renameSync(pending, dir);
    return { dir, lock };
  } catch {
    return { dir: pending, lock };
  }
}

/** An open descriptor holding an exclusive flock on `dir`, or undefined when it cannot be had. */
function lockDirectory(dir: string): number | undefined {
  let fd: number;
  try {
    fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  } catch {
    return undefined;
  }
  try {
    if (libc().flock(fd, LOCK_EX | LOCK_NB) === 0) return fd;
  } catch {
    // libc unavailable: the copy is unguarded against sweeps, as before the lock existed
  }
  closeSync(fd);
  return undefined;
}

/** Whether no run holds the copy at `path` any more (a vanished copy is no one's to remove). */
export function copyOwnerGone(path: string): boolean {
  const fd = lockDirectory(path);
  if (fd === undefined) return false;
  closeSync(fd);
  return true;
}

/** Remove the copies in `memoryDir` whose owner is gone; the number removed. */
export function removeDeadCopies(memoryDir = MEMORY_DIR, now = Date.now()): number {
  return removeLeftovers(
    memoryDir,
    (name) => name.startsWith(COPY_PREFIX) && !live.has(join(memoryDir, name)) && ownerGone(memoryDir, name, now),
  );
}

/** Whether the run that made the copy NAME no longer exists: its lock is free (pending and older copies: by age). */
function ownerGone(memoryDir: string, name: string, now: number): boolean {
  if (/^\d+-\d+-/.test(name.slice(COPY_PREFIX.length))) return copyOwnerGone(join(memoryDir, name));
  try {
    return now - statSync(join(memoryDir, name)).mtimeMs > UNOWNED_STALE_MS;
  } catch {
    return false;
  }
}

function removeQuietly(path: string): void {
  try {
    rmSync(path, { recursive: true });
  } catch {
    // Gone already, or not removable: nothing better to do here.
  }
}

function removeAll(): void {
  for (const dir of live) removeQuietly(dir);
  live.clear();
}

/**
 * While a copy exists: a signal whose default would end the process removes it first and then
 * ends the process as the signal would have (same exit status). A program with a handler of
 * its own for that signal keeps it: it ends its build and the copy is removed then.
 */
const onSignal = (signal: (typeof GUARDED_SIGNALS)[number]) => {
  if (process.listenerCount(signal) - 1 - signalExitListeners() > 0) return;
  removeAll();
  unguard();
  process.kill(process.pid, signal);
};
const handlers = new Map(GUARDED_SIGNALS.map((signal) => [signal, () => onSignal(signal)] as const));
let guarded = false;

/**
 * execa ends its children on a signal through signal-exit, whose listener also defers to any
 * other: it re-raises the signal only when it is alone. Its listeners are not the program's own
 * handling, so they are not counted (it keeps the count on a global of its own).
 */
function signalExitListeners(): number {
  const emitter = (globalThis as Record<symbol, { count?: unknown } | undefined>)[Symbol.for("signal-exit emitter")];
  return typeof emitter?.count === "number" ? emitter.count : 0;
}

function guard(): void {
  if (guarded) return;
  guarded = true;
  for (const [signal, handler] of handlers) process.on(signal, handler);
  process.on("exit", removeAll);
}

/** Also when not guarded: removing listeners that are not there changes nothing. */
function unguard(): void {
  guarded = false;
  for (const [signal, handler] of handlers) process.off(signal, handler);
  process.off("exit", removeAll);
}
