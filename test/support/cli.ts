import { COMMANDS, run } from "../../src/cli.ts";
import { isGroup, type AnyCommand } from "../../src/command.ts";
import type { Env } from "../../src/env.ts";
import { TEST_MAIL_CONFIG } from "./host-guard.ts";

/**
 * Run the CLI in-process through its real entry path (src/cli.ts `run`: parsing, option
 * resolution, secret registration, error reporting), capturing what it prints. `commands`
 * replaces the command table, e.g. with a start built with test doubles for exec. Unless ENV
 * names one, Postfix's default config dir is the run's empty one, never the host's /etc/postfix,
 * and PATH is this process's.
 */
export async function runCli(argv: string[], env: Env = {}, commands: readonly AnyCommand[] = COMMANDS) {
  env = "MAIL_CONFIG" in env ? env : { ...env, MAIL_CONFIG: TEST_MAIL_CONFIG };
  // Commands hand their environment to the programs they run: PATH as the test process has it.
  env = "PATH" in env ? env : { ...env, PATH: process.env.PATH };
  let stdout = "";
  let stderr = "";
  const exitCode = await run(argv, env, commands, {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
  });
  return { exitCode, stdout, stderr, lines: stderr === "" ? [] : stderr.replace(/\n$/, "").split("\n") };
}

/** Every command path of a table: ["start"], ..., ["templates"], ["templates", "extract"], ... */
export function commandPaths(commands: readonly AnyCommand[] = COMMANDS, prefix: string[] = []): string[][] {
  return commands.flatMap((command) => {
    const path = [...prefix, command.name];
    return isGroup(command) ? [path, ...commandPaths(command.subcommands, path)] : [path];
  });
}
