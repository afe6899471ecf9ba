import { parseCommandArgs, run } from "../../src/cli.ts";
import type { CommandSpec, Env } from "../../src/command.ts";
import { UserError } from "../../src/errors.ts";
import type { Logger } from "../../src/log.ts";

/** Run the CLI in-process (src/cli.ts `run`), capturing what it prints. */
export async function runCli(argv: string[], env: Record<string, string | undefined> = {}) {
  let stdout = "";
  let stderr = "";
  const exitCode = await run(argv, env, {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
  });
  return { exitCode, stdout, stderr };
}

/**
 * Run one command object (e.g. one built with test doubles for exec) the way `run` would:
 * a UserError becomes its exit code and an error log line; anything else is thrown.
 */
export async function runCommand(command: CommandSpec, words: string[], env: Env, log: Logger): Promise<number> {
  try {
    return await command.run({ ...parseCommandArgs(command, words, env), env, log, stdout: () => {} });
  } catch (error) {
    if (!(error instanceof UserError)) throw error;
    for (const line of error.lines ?? [error.message]) log.error(line);
    return error.exitCode;
  }
}
