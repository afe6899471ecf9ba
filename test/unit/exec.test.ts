import { describe, expect, test } from "bun:test";
import { resolve } from "node:path";

// execInto replaces the process, so each case runs in a Bun of its own.

const EXEC = resolve(import.meta.dir, "../../src/exec.ts");

function runScript(script: string) {
  const result = Bun.spawnSync([process.execPath, "-e", script], { env: { PATH: process.env.PATH, KEPT: "yes" }, stderr: "pipe" });
  return { exitCode: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

describe("execInto", () => {
  test("becomes the program, with the environment given (variables without a value left out)", () => {
    const result = runScript(
      `const { execInto } = await import(${JSON.stringify(EXEC)}); execInto("/bin/sh", ["sh", "-c", 'echo "$KEPT $GONE-$0"'], { KEPT: process.env.KEPT, GONE: undefined });`,
    );
    expect(result).toEqual({ exitCode: 0, stdout: "yes -sh\n", stderr: "" });
  });

  test("fails loudly where the runtime has no execve, never exits quietly", () => {
    const result = runScript(
      `delete process.execve; const { execInto } = await import(${JSON.stringify(EXEC)}); execInto("/bin/sleep", ["sleep", "infinity"], {}); console.log("returned");`,
    );
    expect(result.exitCode).not.toBe(0);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain("cannot exec /bin/sleep: process.execve is not available in this runtime");
  });
});
