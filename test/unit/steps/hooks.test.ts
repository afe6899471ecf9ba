import { describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createMemoryLogger } from "../../../src/log.ts";
import { listHooks, runHooks } from "../../../src/steps/hooks.ts";
import { tempDirs } from "../../support/fixture.ts";

const tempDir = tempDirs("mpi-hooks-");
function script(path: string, body: string, mode = 0o755): void {
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, mode);
}

describe("hooks", () => {
  test("executable files only, in byte order, dotfiles skipped", () => {
    const dir = tempDir();
    for (const name of ["b", "a", "B", "10-x", ".hidden"]) script(join(dir, name), "true");
    script(join(dir, "not-executable"), "true", 0o644);
    mkdirSync(join(dir, "subdir"));
    expect(listHooks(dir).map((path) => path.slice(dir.length + 1))).toEqual(["10-x", "B", "a", "b"]);
    expect(listHooks(join(dir, "missing"))).toEqual([]);
  });

  test("each exit status is logged; a failing hook does not stop the others", async () => {
    const dir = tempDir();
    const out = join(tempDir(), "hooks.out");
    script(join(dir, "1-fails"), `echo one >> ${out}; exit 3`);
    script(join(dir, "2-works"), `echo "two $HOOK_VAR" >> ${out}`);
    const log = createMemoryLogger();
    const results = await runHooks(dir, { HOOK_VAR: "env-passed", PATH: process.env.PATH }, log);
    expect(results.map((result) => result.exitCode)).toEqual([3, 0]);
    expect(readFileSync(out, "utf8")).toBe("one\ntwo env-passed\n");
    expect(log.lines).toEqual([
      `mailcow-postfix-init: running hook ${dir}/1-fails`,
      `mailcow-postfix-init: error: hook ${dir}/1-fails failed (exit 3); continuing`,
      `mailcow-postfix-init: running hook ${dir}/2-works`,
      `mailcow-postfix-init: hook ${dir}/2-works finished (exit 0)`,
    ]);
  });

  test("a hanging hook is killed with everything it started once the timeout passes", async () => {
    const dir = tempDir();
    const pidFile = join(dir, "..", `${dir.split("/").pop()}.pid`);
    script(join(dir, "hangs"), `sleep 300 & echo $! > ${pidFile}; wait`);
    script(join(dir, "next"), "exit 0");
    const log = createMemoryLogger();
    const started = Date.now();
    const results = await runHooks(dir, { PATH: process.env.PATH }, log, 300);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(results.map((result) => [result.timedOut, result.exitCode])).toEqual([
      [true, undefined],
      [false, 0],
    ]);
    expect(log.lines[1]).toBe(`mailcow-postfix-init: error: hook ${dir}/hangs did not finish within 0.3s and was killed; continuing`);
    const sleeper = Number(readFileSync(pidFile, "utf8"));
    Bun.spawnSync(["rm", "-f", pidFile]);
    await Bun.sleep(100);
    expect(existsSync(`/proc/${sleeper}`) && !readFileSync(`/proc/${sleeper}/stat`, "utf8").includes(") Z ")).toBe(false);
  });
});
