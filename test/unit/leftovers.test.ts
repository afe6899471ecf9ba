import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { anyMatching, ofGoneProcess, removeLeftovers } from "../../src/leftovers.ts";
import { makeTempDir } from "../support/tmp.ts";

const temp = makeTempDir("mpi-leftovers-");
afterAll(() => temp.cleanup());
let dirs = 0;

function dirWith(names: string[]): string {
  const dir = join(temp.path, String(dirs++));
  mkdirSync(dir);
  for (const name of names) writeFileSync(join(dir, name), "x");
  return dir;
}

describe("removeLeftovers", () => {
  test("anyMatching: every match goes, directories with their contents; the rest stays", () => {
    const dir = dirWith([".a.0123456789ab.tmp", "main.cf"]);
    mkdirSync(join(dir, ".a.0123456789ab.tmp.d"));
    writeFileSync(join(dir, ".a.0123456789ab.tmp.d", "0"), "key");
    expect(removeLeftovers(dir, anyMatching(/\.tmp(\.d)?$/))).toBe(2);
    expect(readdirSync(dir)).toEqual(["main.cf"]);
  });

  test("ofGoneProcess: only names whose PID no longer runs", () => {
    const gone = Bun.spawnSync(["true"]).pid;
    const dir = dirWith([`run-${process.pid}-x`, `run-${gone}-x`, "run-x"]);
    expect(removeLeftovers(dir, ofGoneProcess(/^run-(\d+)-/))).toBe(1);
    expect(readdirSync(dir).sort()).toEqual([`run-${process.pid}-x`, "run-x"]);
  });

  test("a missing dir is no error", () => {
    expect(removeLeftovers(join(temp.path, "missing"), anyMatching(/./))).toBe(0);
    expect(existsSync(join(temp.path, "missing"))).toBe(false);
  });
});
