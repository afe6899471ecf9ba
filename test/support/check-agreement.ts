import { expect } from "bun:test";
import { runCli } from "./cli.ts";

type Runner = (
  argv: string[],
  env: Record<string, string>,
) => Promise<{ exitCode: number; stdout: string; stderr: string }> | { exitCode: number; stdout: string; stderr: string };

/** `check --json` and `check` (run by RUN: in-process by default) report exactly the problems sni-map logged (STDERR) and the map it wrote (MAP) for the same tree. */
export async function expectCheckAgreesWithSniMap(
  sslDir: string,
  env: Record<string, string>,
  map: string,
  stderr: string,
  run: Runner = runCli,
): Promise<void> {
  const json = await run(["check", "--json", "--ssl-dir", sslDir], env);
  const report = JSON.parse(json.stdout) as {
    ok: boolean;
    problems: { severity: string; message: string }[];
    entries: { name: string; files: string[] }[];
  };
  const logged = stderr
    .split("\n")
    .map((line) => /^mailcow-postfix-init: (error|warning): (.*)$/.exec(line))
    .flatMap((match) => (match ? [`${match[1]}: ${match[2]}`] : []));
  expect(report.problems.map((problem) => `${problem.severity}: ${problem.message}`).sort()).toEqual(logged.sort());
  expect(report.entries.map((entry) => `${entry.name} ${entry.files.join(" ")}\n`).join("")).toBe(map);
  expect(json.exitCode).toBe(report.ok ? 0 : 1);
  const plain = await run(["check", "--ssl-dir", sslDir], env);
  for (const problem of report.problems) expect(plain.stdout + plain.stderr).toContain(problem.message);
  expect(plain.exitCode).toBe(json.exitCode);
}
