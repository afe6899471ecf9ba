import { describe, expect, test } from "bun:test";
import { COMMANDS } from "../../src/cli.ts";
import { commandPaths, runCli } from "../support/cli.ts";

// The command line through the real entry path (cli.run with the real command table): every
// usage mistake is one error line plus one hint line naming the help to read, exit 2, and is
// reported before anything else is looked at (the environment included).

const P = "mailcow-postfix-init";
const hint = (command: string) => `${P}: hint: run \`${P}${command ? ` ${command}` : ""} --help\``;
const usage = (message: string, command: string) => [`${P}: error: ${message}`, hint(command)];

const cases: { name: string; argv: string[]; env?: Record<string, string>; exitCode: number; lines: string[] }[] = [
  { name: "unknown command", argv: ["frobnicate"], exitCode: 2, lines: usage("unknown command `frobnicate`", "") },
  { name: "a close command name", argv: ["snimap"], exitCode: 2, lines: usage("unknown command `snimap`; did you mean `sni-map`?", "") },
  { name: "unknown flag", argv: ["sni-map", "--bogus"], exitCode: 2, lines: usage("unknown flag `--bogus` for `sni-map`", "sni-map") },
  {
    name: "a close flag name",
    argv: ["sni-map", "--ssl-dri", "x"],
    exitCode: 2,
    lines: usage("unknown flag `--ssl-dri` for `sni-map`; did you mean `--ssl-dir`?", "sni-map"),
  },
  { name: "a short flag", argv: ["check", "-x"], exitCode: 2, lines: usage("unknown flag `-x` for `check`", "check") },
  {
    name: "an environment-only setting is no flag",
    argv: ["sni-map", "--mail-config", "/x"],
    exitCode: 2,
    lines: usage("unknown flag `--mail-config` for `sni-map`", "sni-map"),
  },
  { name: "missing value", argv: ["sni-map", "--ssl-dir"], exitCode: 2, lines: usage("flag `--ssl-dir` expects a value (DIR)", "sni-map") },
  {
    name: "a flag where the value belongs",
    argv: ["sni-map", "--ssl-dir", "--dry-run"],
    exitCode: 2,
    lines: usage("flag `--ssl-dir` expects a value (DIR)", "sni-map"),
  },
  {
    name: "empty value",
    argv: ["check", "--ssl-dir="],
    exitCode: 2,
    lines: usage("flag `--ssl-dir` expects a value (DIR), got an empty one", "check"),
  },
  {
    name: "a value for a boolean flag",
    argv: ["check", "--json=yes"],
    exitCode: 2,
    lines: usage("flag `--json` takes no value, got `yes`", "check"),
  },
  {
    name: "repeated flag",
    argv: ["sni-map", "--ssl-dir", "a", "--ssl-dir", "b"],
    exitCode: 2,
    lines: usage("flag `--ssl-dir` given twice; give it once", "sni-map"),
  },
  {
    name: "repeated boolean flag",
    argv: ["check", "--json", "--json"],
    exitCode: 2,
    lines: usage("flag `--json` given twice; give it once", "check"),
  },
  {
    name: "bad seconds, before the missing environment",
    argv: ["start", "--wait-timeout", "abc"],
    exitCode: 2,
    lines: usage("flag `--wait-timeout` expects a number of seconds greater than 0 (e.g. 30 or 1.5), got `abc`", "start"),
  },
  {
    name: "negative seconds",
    argv: ["sni-map", "--lock-timeout=-1"],
    exitCode: 2,
    lines: usage("flag `--lock-timeout` expects a number of seconds (e.g. 30 or 1.5), got `-1`", "sni-map"),
  },
  {
    name: "bad seconds in the environment: one line naming the variable, exit 1, before the other variables",
    argv: ["start"],
    env: { MPI_WAIT_TIMEOUT: "soon" },
    exitCode: 1,
    lines: [
      `${P}: error: environment variable MPI_WAIT_TIMEOUT: expected a number of seconds greater than 0 (e.g. 30 or 1.5), got \`soon\``,
    ],
  },
  { name: "a stray argument", argv: ["sni-map", "extra"], exitCode: 2, lines: usage("`sni-map` takes no argument `extra`", "sni-map") },
  {
    name: "`--` where nothing is passed on",
    argv: ["sni-map", "--", "--dry-run"],
    exitCode: 2,
    lines: usage("`sni-map` takes no arguments, so `--` is not accepted", "sni-map"),
  },
  { name: "entrypoint without CMD", argv: ["entrypoint"], exitCode: 2, lines: usage("`entrypoint` needs CMD [ARGS...]", "entrypoint") },
  {
    name: "a group without its action",
    argv: ["templates"],
    exitCode: 2,
    lines: usage("`templates` needs an action: extract, verify, fingerprint", "templates"),
  },
  {
    name: "unknown action",
    argv: ["templates", "list"],
    exitCode: 2,
    lines: usage("unknown action `list` of `templates` (expected extract, verify, fingerprint)", "templates"),
  },
  {
    name: "a close action name",
    argv: ["templates", "extrat"],
    exitCode: 2,
    lines: usage("unknown action `extrat` of `templates` (expected extract, verify, fingerprint); did you mean `extract`?", "templates"),
  },
  {
    name: "a flag before the action",
    argv: ["templates", "--from", "x", "extract"],
    exitCode: 2,
    lines: usage("`--from` before the action: write `templates ACTION --from`", "templates"),
  },
  {
    name: "unknown flag of an action",
    argv: ["templates", "extract", "--bogus"],
    exitCode: 2,
    lines: usage("unknown flag `--bogus` for `templates extract`", "templates extract"),
  },
  {
    name: "no command, a flag of no command: start's, so an error naming that",
    argv: ["--dry-run"],
    exitCode: 2,
    lines: usage(
      "unknown flag `--dry-run`: flags given without a command are start's, and start has no such flag; put a command's flags after it",
      "",
    ),
  },
  {
    name: "no command, start's flags, then a command",
    argv: ["--ssl-dir", "x", "sni-map"],
    exitCode: 2,
    lines: usage("the command `sni-map` comes first, its flags after it: `mailcow-postfix-init sni-map --ssl-dir x`", "start"),
  },
  {
    name: "no command, start's flag: start runs (and reports its missing environment)",
    argv: ["--ssl-dir", "/nonexistent"],
    exitCode: 1,
    lines: [
      `${P}: error: environment variable DBNAME: required, must be set`,
      `${P}: error: environment variable DBUSER: required, must be set`,
      `${P}: error: environment variable DBPASS: required, must be set`,
      `${P}: error: environment variable MAILCOW_HOSTNAME: required, must be set`,
    ],
  },
  {
    name: "no command, start's flag with a bad value",
    argv: ["--wait-timeout=0"],
    exitCode: 2,
    lines: usage("flag `--wait-timeout` expects a number of seconds greater than 0 (e.g. 30 or 1.5), got `0`", "start"),
  },
];

describe("usage errors: one line, one hint, exit 2", () => {
  for (const testCase of cases) {
    test(testCase.name, async () => {
      const result = await runCli(testCase.argv, testCase.env ?? {});
      expect({ exitCode: result.exitCode, lines: result.lines, stdout: result.stdout }).toEqual({
        exitCode: testCase.exitCode,
        lines: testCase.lines,
        stdout: "",
      });
    });
  }
});

describe("--help", () => {
  test("the paths cover every command and action", () => {
    expect(commandPaths(COMMANDS).map((path) => path.join(" "))).toEqual([
      "start",
      "sni-map",
      "check",
      "reload",
      "watch",
      "entrypoint",
      "templates",
      "templates extract",
      "templates verify",
      "templates fingerprint",
    ]);
  });

  for (const path of commandPaths(COMMANDS)) {
    for (const flag of ["--help", "-h"]) {
      test(`${path.join(" ")} ${flag}: its usage on stdout, exit 0, nothing else`, async () => {
        const result = await runCli([...path, flag], {});
        expect({ exitCode: result.exitCode, stderr: result.stderr }).toEqual({ exitCode: 0, stderr: "" });
        expect(result.stdout).toStartWith(`Usage: ${P} ${path.join(" ")} `);
        expect(result.stdout).toContain("--help");
      });
    }
  }

  test("--help wins over a bad value, and needs no environment", async () => {
    const result = await runCli(["start", "--wait-timeout=abc", "--help"], {});
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain("--wait-timeout SECONDS");
  });

  test("entrypoint CMD --help is CMD's flag, not ours", async () => {
    const result = await runCli(["entrypoint", "no-such-program-here", "--help"], { PATH: "/nonexistent" });
    expect(result.lines).toEqual([`${P}: error: entrypoint: command \`no-such-program-here\` not found on PATH`]);
    expect(result.exitCode).toBe(127);
  });

  test("the global help, and every MPI_ variable and MAIL_CONFIG in some command's help", async () => {
    for (const argv of [["--help"], ["-h"], ["help"]]) {
      const result = await runCli(argv, {});
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toStartWith(`Usage: ${P} [COMMAND] [FLAGS]`);
    }
    const helps = (await Promise.all(commandPaths(COMMANDS).map((path) => runCli([...path, "--help"], {}))))
      .map((result) => result.stdout)
      .join("\n");
    for (const variable of [
      "MPI_CONF_DIR",
      "MPI_SSL_DIR",
      "MPI_CACHE_FILE",
      "MPI_LOCK_TIMEOUT",
      "MPI_WAIT_TIMEOUT",
      "MPI_HOOK_TIMEOUT",
      "MPI_TEMPLATES",
      "MPI_ACCEPT_UNVERIFIED_BASE",
      "MPI_UNVERIFIED_BASE_FILE",
      "MAIL_CONFIG",
    ]) {
      expect(helps).toContain(variable);
    }
  });
});
