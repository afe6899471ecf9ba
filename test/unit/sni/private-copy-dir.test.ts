import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readlinkSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { COPY_PREFIX, copyOwnerGone, createPrivateCopyDir, processTag, removeDeadCopies } from "../../../src/sni/private-copy.ts";
import { makeTempDir } from "../../support/tmp.ts";

// The private copy's directory in-process, in a memory dir of this test's own (never the
// host's /dev/shm): private, named after its owner, held while in use, removed on remove(),
// and what a sweep beside it removes. private-copy.test.ts covers signals and other processes.

const temp = makeTempDir("mpi-copy-dir-");
afterAll(() => temp.cleanup());
let count = 0;
const memoryDir = () => {
  const dir = join(temp.path, `shm-${++count}`);
  mkdirSync(dir);
  return dir;
};
const MINUTE = 60 * 1000;

test("a copy in the memory dir: 0700, named after this process (PID and start time), removed by remove()", () => {
  const shm = memoryDir();
  const copy = createPrivateCopyDir(join(temp.path, "fallback-unused"), shm);
  expect(copy.dir.startsWith(join(shm, `${COPY_PREFIX}${processTag("self")}-`))).toBe(true);
  expect(statSync(copy.dir).mode & 0o777).toBe(0o700);
  expect(readdirSync(shm)).toHaveLength(1);
  expect(existsSync(join(temp.path, "fallback-unused"))).toBe(false);
  writeFileSync(join(copy.dir, "key.pem"), "secret");
  copy.remove();
  expect(readdirSync(shm)).toEqual([]);
  copy.remove(); // idempotent
});

test("processTag: this process's PID and start time; none for a process that does not exist", () => {
  const tag = processTag("self")!;
  expect(tag).toMatch(/^\d+-\d+$/);
  expect(tag.split("-")[0]).toBe(String(process.pid));
  expect(processTag(process.pid)).toBe(tag);
  expect(processTag(2 ** 22 + 1)).toBeUndefined();
  // The start time tells a reused PID from its first owner: a process started later has a later one.
  const child = Bun.spawn(["sleep", "5"]);
  try {
    const [childPid, childStart] = processTag(child.pid)!.split("-").map(Number);
    expect(childPid).toBe(child.pid);
    expect(childStart!).toBeGreaterThan(Number(tag.split("-")[1]));
  } finally {
    child.kill();
  }
});

test("no memory dir (or none usable): the fallback dir, 0700, removed by remove()", () => {
  const fallback = join(temp.path, "fallback-1");
  const copy = createPrivateCopyDir(fallback, undefined);
  expect(copy.dir).toBe(fallback);
  expect(statSync(fallback).mode & 0o777).toBe(0o700);
  copy.remove();
  expect(existsSync(fallback)).toBe(false);
  const missing = createPrivateCopyDir(join(temp.path, "fallback-2"), join(temp.path, "no-such-shm"));
  expect(missing.dir).toBe(join(temp.path, "fallback-2"));
  missing.remove();
});

test("a copy still held by its run is not the sweep's; once removed it is gone", () => {
  const shm = memoryDir();
  const copy = createPrivateCopyDir(join(temp.path, "fallback-held"), shm);
  expect(copyOwnerGone(copy.dir)).toBe(false);
  expect(removeDeadCopies(shm)).toBe(0);
  expect(existsSync(copy.dir)).toBe(true);
  copy.remove();
  expect(copyOwnerGone(copy.dir)).toBe(false); // a vanished copy is no one's to remove
});

test("the sweep: owned names by their lock; unowned and pending names by age (10 minutes); other names never", () => {
  const shm = memoryDir();
  const now = Date.now();
  const make = (name: string, ageMs: number) => {
    const path = join(shm, name);
    mkdirSync(path);
    writeFileSync(join(path, "key.pem"), "secret");
    const time = (now - ageMs) / 1000;
    utimesSync(path, time, time);
    return path;
  };
  const ownedFree = make(`${COPY_PREFIX}123-456-abc`, 0);
  const unownedOld = make(`${COPY_PREFIX}old-style`, 11 * MINUTE);
  const unownedYoung = make(`${COPY_PREFIX}young-style`, 9 * MINUTE);
  const pidOnlyYoung = make(`${COPY_PREFIX}77-young`, MINUTE); // no start time: not an owner's name
  const ownerLaterYoung = make(`${COPY_PREFIX}old-1-2-young`, MINUTE); // an owner's name only at its start counts
  const pendingOld = make(`${COPY_PREFIX}new-old`, 11 * MINUTE);
  const pendingYoung = make(`${COPY_PREFIX}new-young`, MINUTE);
  const notOurs = make("other-program-123-456-x", 60 * MINUTE);
  expect(removeDeadCopies(shm, now)).toBe(3);
  expect([ownedFree, unownedOld, unownedYoung, pendingOld, pendingYoung, notOurs, pidOnlyYoung, ownerLaterYoung].map(existsSync)).toEqual([
    false,
    false,
    true,
    false,
    true,
    true,
    true,
    true,
  ]);
  // The age is counted from `now`: an hour later the young ones are old too.
  expect(removeDeadCopies(shm, now + 60 * MINUTE)).toBe(4);
  expect(readdirSync(shm)).toEqual(["other-program-123-456-x"]);
});

test("a new copy sweeps the memory dir first, but never a copy this process still uses", () => {
  const shm = memoryDir();
  const first = createPrivateCopyDir(join(temp.path, "fallback-a"), shm);
  mkdirSync(join(shm, `${COPY_PREFIX}999-1-left`));
  const second = createPrivateCopyDir(join(temp.path, "fallback-b"), shm);
  expect(existsSync(join(shm, `${COPY_PREFIX}999-1-left`))).toBe(false);
  expect(existsSync(first.dir)).toBe(true);
  expect(second.dir).not.toBe(first.dir);
  first.remove();
  expect(existsSync(second.dir)).toBe(true);
  second.remove();
  expect(readdirSync(shm)).toEqual([]);
});

test("process exit removes a copy the run did not remove itself", () => {
  const shm = memoryDir();
  const script = `
    const { createPrivateCopyDir } = await import(${JSON.stringify(join(import.meta.dir, "../../../src/sni/private-copy.ts"))});
    const copy = createPrivateCopyDir(${JSON.stringify(join(temp.path, "fallback-exit"))}, ${JSON.stringify(shm)});
    await Bun.write(copy.dir + "/key.pem", "secret");
    process.exit(3);
  `;
  const run = Bun.spawnSync([process.execPath, "-e", script], { stderr: "pipe" });
  expect({ status: run.exitCode, stderr: run.stderr.toString() }).toEqual({ status: 3, stderr: "" });
  expect(readdirSync(shm)).toEqual([]);
});

test("while a copy exists its signal handlers are installed once, and its lock is held; after the last removal neither is left", () => {
  const shm = memoryDir();
  const signals = ["SIGTERM", "SIGINT", "SIGHUP"] as const;
  const listeners = () => signals.map((signal) => process.listenerCount(signal)).concat(process.listenerCount("exit"));
  // Descriptors open on something in the memory dir: the copies' locks (a count of every open
  // descriptor would also see other threads' files, such as a worker a test before this one ended).
  const openFds = () =>
    readdirSync("/proc/self/fd").filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`).startsWith(`${shm}/`);
      } catch {
        return false; // closed since the listing
      }
    }).length;
  const [baseListeners, baseFds] = [listeners(), openFds()];
  const first = createPrivateCopyDir(join(temp.path, "fallback-x"), shm);
  const second = createPrivateCopyDir(join(temp.path, "fallback-y"), shm);
  expect(listeners()).toEqual(baseListeners.map((count) => count + 1));
  expect(openFds()).toBe(baseFds + 2); // one held lock per copy
  first.remove();
  expect(listeners()).toEqual(baseListeners.map((count) => count + 1)); // the second copy is still guarded
  expect(openFds()).toBe(baseFds + 1);
  second.remove();
  expect(listeners()).toEqual(baseListeners);
  expect(openFds()).toBe(baseFds);
});

test("a copy's name: the prefix, its owner's PID and start time, and mkdtemp's six random characters", () => {
  const shm = memoryDir();
  const copy = createPrivateCopyDir(join(temp.path, "fallback-name"), shm);
  try {
    const name = copy.dir.slice(shm.length + 1);
    expect(name.startsWith(`${COPY_PREFIX}${processTag("self")}-`)).toBe(true);
    expect(name.slice(`${COPY_PREFIX}${processTag("self")}-`.length)).toMatch(/^[A-Za-z0-9]{6}$/);
  } finally {
    copy.remove();
  }
});

test("an unowned copy exactly ten minutes old is kept; a millisecond older, removed", () => {
  const shm = memoryDir();
  const path = join(shm, `${COPY_PREFIX}boundary`);
  mkdirSync(path);
  const mtime = statSync(path).mtimeMs;
  expect(removeDeadCopies(shm, mtime + 10 * MINUTE)).toBe(0);
  expect(removeDeadCopies(shm, mtime + 10 * MINUTE + 1)).toBe(1);
});

test("a program with a SIGTERM handler of its own keeps its copy through the signal and removes it itself", () => {
  const shm = memoryDir();
  const script = `
    const { existsSync } = await import("node:fs");
    const { createPrivateCopyDir } = await import(${JSON.stringify(join(import.meta.dir, "../../../src/sni/private-copy.ts"))});
    const copy = createPrivateCopyDir(${JSON.stringify(join(temp.path, "fallback-own-handler"))}, ${JSON.stringify(shm)});
    process.on("SIGTERM", () => {
      console.log(existsSync(copy.dir) ? "kept" : "removed");
      copy.remove();
      process.exit(0);
    });
    process.kill(process.pid, "SIGTERM");
    await Bun.sleep(5000);
  `;
  const run = Bun.spawnSync([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
  expect({ status: run.exitCode, stdout: run.stdout.toString(), stderr: run.stderr.toString() }).toEqual({
    status: 0,
    stdout: "kept\n",
    stderr: "",
  });
  expect(readdirSync(shm)).toEqual([]);
});
