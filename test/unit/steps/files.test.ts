import { afterAll, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../../../src/errors.ts";
import { readTextIfExists, settleMtime, writeIfChanged } from "../../../src/steps/files.ts";
import { makeTempDir } from "../../support/tmp.ts";

// The steps' file rules (CONTRIBUTING, "A second start changes nothing"): a file whose bytes,
// mode and owner are already right is left alone; an admin's file keeps its mode and owner; a
// failure is one error naming the file.

const temp = makeTempDir("mpi-files-");
afterAll(temp.cleanup);
let made = 0;
const fresh = () => join(temp.path, `f${made++}`);
const state = (path: string) => {
  const stat = statSync(path);
  return { text: readFileSync(path, "utf8"), mode: stat.mode & 0o7777, uid: stat.uid, gid: stat.gid };
};
/** Dated an hour back: a rewrite shows as a newer mtime. */
const dateBack = (path: string) => utimesSync(path, new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000));
const untouched = (path: string) => statSync(path).mtimeMs < Date.now() - 3_000_000;

test("a file that does not exist reads as undefined; one that cannot be read is an error naming it", () => {
  expect(readTextIfExists(fresh())).toBeUndefined();
  const path = fresh();
  writeFileSync(path, "text\n");
  expect(readTextIfExists(path)).toBe("text\n");
  const directory = fresh();
  mkdirSync(directory);
  expect(() => readTextIfExists(directory)).toThrow(UserError);
  expect(() => readTextIfExists(directory)).toThrow(`cannot read ${directory}: `);
});

test("a new file is written 0644 by default; the same content, mode and owner again is left alone", () => {
  const path = fresh();
  expect(writeIfChanged(path, "a\n")).toBe(true);
  expect(state(path)).toEqual({ text: "a\n", mode: 0o644, uid: 0, gid: 0 });
  dateBack(path);
  expect(writeIfChanged(path, "a\n")).toBe(false);
  expect(writeIfChanged(path, "a\n", { mode: 0o644, uid: 0, gid: 0 })).toBe(false);
  expect(untouched(path)).toBe(true);
});

test("another content, mode, owner or group is written", () => {
  const path = fresh();
  writeIfChanged(path, "a\n", { mode: 0o640, uid: 0, gid: 0 });
  expect(writeIfChanged(path, "b\n", { mode: 0o640 })).toBe(true);
  expect(state(path)).toEqual({ text: "b\n", mode: 0o640, uid: 0, gid: 0 });
  expect(writeIfChanged(path, "b\n", { mode: 0o600 })).toBe(true);
  expect(state(path).mode).toBe(0o600);
  expect(writeIfChanged(path, "b\n", { mode: 0o600, uid: 101 })).toBe(true);
  expect(state(path)).toMatchObject({ uid: 101, gid: 0 });
  expect(writeIfChanged(path, "b\n", { mode: 0o600, uid: 101, gid: 103 })).toBe(true);
  expect(state(path)).toMatchObject({ uid: 101, gid: 103 });
  expect(writeIfChanged(path, "b\n", { mode: 0o600, uid: 101, gid: 103 })).toBe(false);
});

test("preserve: an admin's file keeps its mode and owner when its content is replaced, and is left alone when the content is the same", () => {
  const path = fresh();
  writeFileSync(path, "admin's\n");
  chmodSync(path, 0o600);
  chownSync(path, 1000, 1000);
  dateBack(path);
  expect(writeIfChanged(path, "admin's\n", { preserve: true })).toBe(false);
  expect(untouched(path)).toBe(true);
  expect(writeIfChanged(path, "ours\n", { preserve: true, mode: 0o644, uid: 0, gid: 0 })).toBe(true);
  expect(state(path)).toEqual({ text: "ours\n", mode: 0o600, uid: 1000, gid: 1000 });
});

test("a file that cannot be written is an error naming it and the reason", () => {
  const path = join(temp.path, "no-such-dir", "main.cf");
  let error: unknown;
  try {
    writeIfChanged(path, "x\n");
  } catch (caught) {
    error = caught;
  }
  expect(error).toBeInstanceOf(UserError);
  expect((error as Error).message).toBe(`cannot write ${path}: ENOENT`);
});

test("settleMtime dates the file 2 s back (Postfix re-reads a younger main.cf), access time now", () => {
  const path = fresh();
  writeFileSync(path, "");
  const before = Date.now();
  settleMtime(path);
  const stat = statSync(path);
  expect(stat.mtimeMs).toBeGreaterThanOrEqual(before - 2_000 - 5);
  expect(stat.mtimeMs).toBeLessThanOrEqual(Date.now() - 2_000 + 5);
  expect(stat.atimeMs).toBeGreaterThanOrEqual(before - 5);
});
