import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { COMMANDS, run } from "../../../src/cli.ts";
import { createPostfixTools } from "../../../src/postfix/index.ts";
import { mailTrees } from "../../support/fixture.ts";
import { TEST_MAIL_CONFIG } from "../../support/host-guard.ts";
import { writeImageMainCf } from "../../support/lived-in.ts";
import { importClosure, REPO } from "../../support/imports.ts";
import { recordingToolsDir, type ToolCall } from "../../support/postfix-tools.ts";
import { makeTempDir } from "../../support/tmp.ts";

// Every command that runs a Postfix tool gives it the config dir the command resolved
// (MAIL_CONFIG as the command received it), whatever this process's own environment says.
// `start` is checked the same way in test/integration/start.test.ts (it needs MariaDB). A
// command whose code can reach src/postfix/tools.ts must be checked here or there.

/** Commands run with a recorder in front of Postfix's programs: here, and start in start.test.ts. */
const CHECKED = ["sni-map", "reload", "watch", "check", "start"];

const mailTree = mailTrees("mpi-mail-config-");

/** A config dir of its own with the image's main.cf, as MAIL_CONFIG names it in a container. */
function configuredDir(): string {
  const temp = makeTempDir("mpi-configured-");
  cleanups.push(temp.cleanup);
  writeImageMainCf(temp.path);
  return temp.path;
}
const cleanups: (() => void)[] = [];
afterAll(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/** Run the CLI in-process with `env` only, this process's MAIL_CONFIG unset meanwhile. */
async function runWithoutProcessMailConfig(argv: string[], env: Record<string, string>, during?: (lines: string[]) => Promise<void>) {
  const lines: string[] = [];
  delete process.env.MAIL_CONFIG;
  try {
    const running = run(argv, env, undefined, { stdout: () => {}, stderr: (text) => void lines.push(...text.split("\n").filter(Boolean)) });
    await during?.(lines);
    return { exitCode: await running, lines };
  } finally {
    process.env.MAIL_CONFIG = TEST_MAIL_CONFIG;
  }
}

function expectAllConfigured(calls: ToolCall[], configDir: string, programs: string[]): void {
  expect(calls.length).toBeGreaterThan(0);
  expect([...new Set(calls.map((call) => call.program))].sort()).toEqual(programs);
  expect(calls.filter((call) => call.mailConfig !== configDir)).toEqual([]);
}

describe("each command runs Postfix's tools with the config dir it resolved", () => {
  test("the tools cannot be made without a config dir", () => {
    expect(() => createPostfixTools({ configDir: "", env: process.env })).toThrow("Postfix's tools need their config dir (MAIL_CONFIG)");
    expect(() => createPostfixTools({ configDir: undefined as unknown as string, env: process.env })).toThrow(TypeError);
    const tools = createPostfixTools({ configDir: "/x", env: { PATH: "/bin", MAIL_CONFIG: "/y", DBPASS: "secret" } });
    expect(tools.env).toEqual({ PATH: "/bin", MAIL_CONFIG: "/x" });
  });

  for (const name of ["sni-map", "reload"]) {
    test(name, async () => {
      const { root, sslDir, confDir } = mailTree({ defaultNames: ["mail.example.test"] });
      const configDir = configuredDir();
      const tools = recordingToolsDir(root);
      const env = { PATH: `${tools.bin}:${process.env.PATH}`, MAIL_CONFIG: configDir, MAILCOW_HOSTNAME: "mail.example.test" };
      const result = await runWithoutProcessMailConfig([name, `--ssl-dir=${sslDir}`, `--conf-dir=${confDir}`], env);
      expect(result.lines.filter((line) => line.includes(": error:"))).toEqual([]);
      expect(result.exitCode).toBe(0);
      expectAllConfigured(tools.calls(), configDir, name === "reload" ? ["postfix", "postmap"] : ["postmap"]);
    });
  }

  test("check (judges pairs in-process; no Postfix tool at all)", async () => {
    const { root, sslDir } = mailTree({ defaultNames: ["mail.example.test"] });
    const tools = recordingToolsDir(root);
    const env = { PATH: `${tools.bin}:${process.env.PATH}`, MAIL_CONFIG: configuredDir(), MAILCOW_HOSTNAME: "mail.example.test" };
    const result = await runWithoutProcessMailConfig(["check", `--ssl-dir=${sslDir}`], env);
    expect(result.exitCode).toBe(0);
    expect(tools.calls()).toEqual([]);
  });

  test("every command whose code reaches Postfix's tools is one of those checked", () => {
    const files = readdirSync(join(REPO, "src/commands")).map((name) => `src/commands/${name}`);
    const reaching = files
      .filter((file) => importClosure(file).has("src/postfix/tools.ts"))
      .map((file) => file.replace(/^src\/commands\/|\.ts$/g, ""));
    const commands = COMMANDS.map((command) => command.name);
    expect(reaching.filter((name) => commands.includes(name)).sort()).toEqual(
      expect.arrayContaining(["reload", "sni-map", "start", "watch"]),
    );
    expect(reaching.filter((name) => commands.includes(name) && !CHECKED.includes(name))).toEqual([]);
  });

  test("watch", async () => {
    const { root, sslDir, confDir } = mailTree({ defaultNames: ["mail.example.test"] });
    const configDir = configuredDir();
    const tools = recordingToolsDir(root);
    const env = { PATH: `${tools.bin}:${process.env.PATH}`, MAIL_CONFIG: configDir, MAILCOW_HOSTNAME: "mail.example.test" };
    const result = await runWithoutProcessMailConfig(["watch", `--ssl-dir=${sslDir}`, `--conf-dir=${confDir}`], env, async (lines) => {
      // Its first apply builds the table; then it is stopped as supervisord stops it.
      for (let waited = 0; waited < 15_000 && !existsSync(join(confDir, "sni.map.db")); waited += 50) await Bun.sleep(50);
      for (
        let waited = 0;
        waited < 5_000 && !lines.some((line) => line.includes("watch: applied") || line.includes("sni-map"));
        waited += 50
      )
        await Bun.sleep(50);
      process.emit("SIGTERM");
    });
    expect(result.exitCode).toBe(0);
    expectAllConfigured(tools.calls(), configDir, ["postmap"]);
  }, 30_000);
});
