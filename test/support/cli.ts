import { run } from "../../src/cli.ts";

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
