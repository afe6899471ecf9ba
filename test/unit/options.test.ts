import { expect, test } from "bun:test";
import { UsageError, UserError } from "../../src/errors.ts";
import { parseSeconds, resolveOptions, type OptionTable } from "../../src/options.ts";

// docs/commands.md: a flag wins over its variable, the variable over the default, an empty
// variable counts as unset; seconds are plain decimal numbers. Found by mutation testing: the
// commands' tests never reached the default of an unset option or most of the number rules.

const TABLE = {
  "conf-dir": { type: "string", description: "d", valueName: "DIR", env: "T_CONF", default: "/default/conf" },
  "cache-file": { type: "string", description: "d", valueName: "FILE", env: "T_CACHE" },
  "wait-timeout": { type: "seconds", description: "d", env: "T_WAIT", default: "30" },
  "pair-wait": { type: "seconds", description: "d", env: "T_PAIR", default: "0", allowZero: true },
  "dry-run": { type: "boolean", description: "d" },
} as const satisfies OptionTable;

const resolve = (flags: Record<string, string | true> = {}, env: Record<string, string> = {}) =>
  resolveOptions(TABLE, new Map(Object.entries(flags)), env, "see --help");

test("flag over variable over default; an empty variable counts as unset; camelCase names", () => {
  expect(resolve()).toEqual({ confDir: "/default/conf", cacheFile: undefined, waitTimeout: 30_000, pairWait: 0, dryRun: false });
  expect(resolve({}, { T_CONF: "/env", T_CACHE: "/env/cache", T_WAIT: "2" })).toMatchObject({
    confDir: "/env",
    cacheFile: "/env/cache",
    waitTimeout: 2_000,
  });
  expect(resolve({ "conf-dir": "/flag", "wait-timeout": "3" }, { T_CONF: "/env", T_WAIT: "2" })).toMatchObject({
    confDir: "/flag",
    waitTimeout: 3_000,
  });
  expect(resolve({}, { T_CONF: "", T_CACHE: "", T_WAIT: "" })).toMatchObject({
    confDir: "/default/conf",
    cacheFile: undefined,
    waitTimeout: 30_000,
  });
  expect(resolve({ "dry-run": true }).dryRun).toBe(true);
  expect(Object.isFrozen(resolve())).toBe(true);
});

test("seconds: decimal numbers with optional surrounding blanks, in milliseconds; 0 only where allowed", () => {
  expect(parseSeconds("30")).toBe(30_000);
  expect(parseSeconds(" 1.25 ")).toBe(1_250);
  expect(parseSeconds("0.5")).toBe(500);
  expect(parseSeconds("0", true)).toBe(0);
  expect(parseSeconds("0")).toEqual({ expected: "a number of seconds greater than 0 (e.g. 30 or 1.5)" });
  expect(parseSeconds("-1", true)).toEqual({ expected: "a number of seconds (e.g. 30 or 1.5)" });
  for (const text of ["1e3", "0x10", "x30", "30x", "30 s", "1.", ".5", "1.x", "Infinity", "", " "])
    expect([text, parseSeconds(text)]).toEqual([text, { expected: "a number of seconds greater than 0 (e.g. 30 or 1.5)" }]);
});

test("a bad flag value is a usage error naming the flag; a bad variable names the variable", () => {
  expect(() => resolve({ "wait-timeout": "soon" })).toThrow(
    new UsageError("flag `--wait-timeout` expects a number of seconds greater than 0 (e.g. 30 or 1.5), got `soon`", "see --help"),
  );
  try {
    resolve({}, { T_WAIT: "0" });
    throw new Error("no error");
  } catch (error) {
    expect(error).toBeInstanceOf(UserError);
    expect(error).not.toBeInstanceOf(UsageError);
    expect((error as Error).message).toBe(
      "environment variable T_WAIT: expected a number of seconds greater than 0 (e.g. 30 or 1.5), got `0`",
    );
  }
});
