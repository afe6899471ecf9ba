import { describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { writeFileAtomic, writeNewFile } from "../../src/atomic-write.ts";
import { tempDirs, testEnv } from "../support/fixture.ts";

// Replacement is temp file -> write -> fsync -> rename -> fsync of the directory: after a power
// cut the path holds the old or the new bytes, never a torn or empty file. What the kernel is
// asked to do is read from strace(1) of a real process (the order is what matters, and nothing
// else can see an fsync).

const tempDir = tempDirs("mpi-atomic-");
const ATOMIC_WRITE = resolve(import.meta.dir, "../../src/atomic-write.ts");

interface Syscall {
  name: string;
  /** The strace line, arguments with their fd paths (-y). */
  line: string;
}

/** The file system calls of a bun process running `code` (with writeFileAtomic imported), in order. */
function traceWrite(code: string): Syscall[] {
  const trace = join(tempDir(), "trace");
  const script = `import { writeFileAtomic } from ${JSON.stringify(ATOMIC_WRITE)};\n${code}`;
  const run = Bun.spawnSync(
    [
      "strace",
      "-f",
      "-y",
      "-qq",
      "-o",
      trace,
      "-e",
      "trace=write,pwrite64,fsync,fdatasync,rename,renameat,renameat2",
      process.execPath,
      "-e",
      script,
    ],
    { env: testEnv(), stderr: "pipe" },
  );
  if (run.exitCode !== 0) throw new Error(`strace ${run.exitCode}: ${run.stderr.toString()}`);
  return readFileSync(trace, "utf8")
    .split("\n")
    .flatMap((line) => {
      const match = /^\d+\s+(\w+)\(/.exec(line);
      return match ? [{ name: match[1]!, line }] : [];
    });
}

describe("writeFileAtomic, as the kernel sees it", () => {
  test("data written to a temp file in the same dir, fsync'ed, renamed over the path, then the dir fsync'ed", () => {
    const dir = tempDir();
    const target = join(dir, "sni.map");
    writeFileSync(target, "old\n");
    const calls = traceWrite(`writeFileAtomic(${JSON.stringify(target)}, "new content\\n", { mode: 0o600 });`);
    const rename = calls.findIndex((call) => call.name.startsWith("rename") && call.line.includes(`"${target}"`));
    expect(rename, calls.map((call) => call.line).join("\n")).toBeGreaterThan(0);
    const temp = /"([^"]+\.tmp)"/.exec(calls[rename]!.line)?.[1];
    expect(temp).toStartWith(`${dir}/.sni.map.`);
    const onTemp = (name: string) => calls.findIndex((call) => call.name === name && call.line.includes(`<${temp}>`));
    const written = calls.findLastIndex(
      (call) => call.name.includes("write") && call.line.includes(`<${temp}>`) && call.line.includes("new content"),
    );
    const synced = onTemp("fsync") >= 0 ? onTemp("fsync") : onTemp("fdatasync");
    const dirSynced = calls.findIndex((call, index) => index > rename && call.name === "fsync" && call.line.includes(`<${dir}>`));
    expect({
      written: written >= 0,
      syncedAfterWrite: synced > written,
      renamedAfterSync: rename > synced && synced >= 0,
      dirSyncedAfterRename: dirSynced > rename,
    }).toEqual({ written: true, syncedAfterWrite: true, renamedAfterSync: true, dirSyncedAfterRename: true });
    expect(readFileSync(target, "utf8")).toBe("new content\n");
  });

  test("durable: false (caches) skips both fsyncs but still renames", () => {
    const target = join(tempDir(), "cache.json");
    const calls = traceWrite(`writeFileAtomic(${JSON.stringify(target)}, "{}", { durable: false });`);
    expect(calls.some((call) => call.name.startsWith("rename") && call.line.includes(`"${target}"`))).toBe(true);
    expect(calls.filter((call) => call.name === "fsync" || call.name === "fdatasync")).toEqual([]);
  });
});

describe("writeFileAtomic", () => {
  test("the result has exactly the mode asked for, whatever the umask, and no temp file is left", () => {
    const dir = tempDir();
    const umask = process.umask(0o077);
    try {
      writeFileAtomic(join(dir, "group-readable"), "x", { mode: 0o640 });
      writeFileAtomic(join(dir, "default"), "x");
    } finally {
      process.umask(umask);
    }
    expect(statSync(join(dir, "group-readable")).mode & 0o7777).toBe(0o640);
    expect(statSync(join(dir, "default")).mode & 0o7777).toBe(0o644);
    expect(readdirSync(dir).sort()).toEqual(["default", "group-readable"]);
  });

  test("owner and group as asked", () => {
    const target = join(tempDir(), "owned");
    writeFileAtomic(target, "x", { uid: 65534, gid: 65534 });
    expect([statSync(target).uid, statSync(target).gid]).toEqual([65534, 65534]);
  });

  test("a failed replacement keeps the previous file and removes its temp file", () => {
    const dir = tempDir();
    const target = join(dir, "busy");
    mkdirSync(target); // rename(file, non-empty dir) fails
    writeFileSync(join(target, "inside"), "kept");
    expect(() => writeFileAtomic(target, "new")).toThrow();
    expect(readdirSync(dir)).toEqual(["busy"]);
    expect(readFileSync(join(target, "inside"), "utf8")).toBe("kept");
  });
});

describe("writeNewFile", () => {
  test("never replaces an existing file", () => {
    const target = join(tempDir(), "exists");
    writeFileSync(target, "theirs");
    expect(() => writeNewFile(target, "ours")).toThrow(/EEXIST/);
    expect(readFileSync(target, "utf8")).toBe("theirs");
  });
});
