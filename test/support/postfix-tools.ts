import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createPostfixTools, type PostfixProgram, type PostfixTools } from "../../src/postfix/index.ts";

/**
 * Postfix's tools for a test that calls src/ functions directly (a command builds its own from
 * MAIL_CONFIG): this process's MAIL_CONFIG (host-guard.ts points it at the run's empty config
 * dir; a helper process gets it from testEnv) unless `configDir` names another, this process's
 * environment (PATH) at the time of the call, and any program replaced. No import of
 * host-guard.ts here: helper scripts outside `bun test` use this too.
 */
export function testTools(options: { configDir?: string; programs?: Partial<Record<PostfixProgram, string>> } = {}): PostfixTools {
  return createPostfixTools({ configDir: options.configDir ?? mailConfigOfThisRun(), env: process.env, programs: options.programs });
}

function mailConfigOfThisRun(): string {
  const dir = process.env.MAIL_CONFIG;
  if (!dir) throw new Error("MAIL_CONFIG is not set: tests run with host-guard.ts preloaded, helper processes with testEnv()");
  return dir;
}

export interface ToolCall {
  program: string;
  /** MAIL_CONFIG as the program saw it ("(unset)" when absent). */
  mailConfig: string;
  argv: string;
}

/**
 * A directory to put first in a command's PATH: every Postfix program in it records its name,
 * its MAIL_CONFIG and its arguments, then runs the real one (`postfix reload` is only recorded:
 * no Postfix runs for it in a test). `calls()` reads what was recorded.
 */
export function recordingToolsDir(dir: string): { bin: string; calls(): ToolCall[] } {
  const bin = join(dir, "recording-bin");
  const record = join(dir, "tool-calls");
  mkdirSync(bin, { recursive: true });
  writeFileSync(record, "");
  for (const program of ["postmap", "postalias", "postconf", "postfix", "postsuper"]) {
    const real = Bun.which(program, { PATH: `${process.env.PATH}:/usr/sbin:/sbin` });
    if (!real) throw new Error(`${program} is not installed (test/support/ensure-deps.sh installs Postfix)`);
    const reload = program === "postfix" ? `case " $* " in *" reload "*) exit 0;; esac\n` : "";
    writeFileSync(
      join(bin, program),
      `#!/bin/sh\nprintf '%s\\t%s\\t%s\\n' ${program} "\${MAIL_CONFIG-(unset)}" "$*" >> '${record}'\n${reload}exec '${real}' "$@"\n`,
      { mode: 0o755 },
    );
  }
  const calls = () =>
    readFileSync(record, "utf8")
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => {
        const [program, mailConfig, argv] = line.split("\t");
        return { program: program!, mailConfig: mailConfig!, argv: argv! };
      });
  return { bin, calls };
}
