import { afterAll, describe, expect } from "bun:test";
import { cpSync, existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  adversarial,
  cleanUp,
  expectMapAgrees,
  expectRun,
  freshTree,
  HOSTNAME,
  mountTmpfs,
  runBin,
  runEnv,
  sniArgs,
  tempDir,
} from "./harness.ts";

// Family 5, the command line: empty values, a stray `--`, paths that are files, missing,
// read-only or full. A usage mistake is exit 2 with one line and a hint naming the help; a
// filesystem the admin got wrong is one line and exit 1, never a stack trace; nothing is
// written by a refused run.

afterAll(cleanUp);

const startEnv = () => runEnv({ DBNAME: "mailcow", DBUSER: "mailcow", MAILCOW_HOSTNAME: HOSTNAME });

describe("usage errors: exit 2, nothing written", () => {
  const usageCases: { name: string; args: (tree: ReturnType<typeof freshTree>) => string[]; command: string; message: string }[] = [
    {
      name: "--ssl-dir= (empty) is not the current directory",
      command: "sni-map",
      args: (t) => ["sni-map", "--ssl-dir=", "--conf-dir", t.confDir],
      message: "flag `--ssl-dir` expects a value (DIR), got an empty one",
    },
    {
      name: "--conf-dir= (empty)",
      command: "sni-map",
      args: (t) => ["sni-map", "--ssl-dir", t.sslDir, "--conf-dir="],
      message: "flag `--conf-dir` expects a value (DIR), got an empty one",
    },
    {
      name: "--hostname= (empty)",
      command: "sni-map",
      args: (t) => sniArgs(t, "--hostname="),
      message: "flag `--hostname` expects a value (NAME), got an empty one",
    },
    {
      name: "--ssl-dir '' (empty word)",
      command: "check",
      args: () => ["check", "--ssl-dir", ""],
      message: "flag `--ssl-dir` expects a value (DIR), got an empty one",
    },
    {
      name: "sni-map -- --dry-run does not write for real",
      command: "sni-map",
      args: (t) => [...sniArgs(t), "--", "--dry-run"],
      message: "`sni-map` takes no arguments, so `--` is not accepted",
    },
    {
      name: "check -- --json",
      command: "check",
      args: (t) => ["check", "--ssl-dir", t.sslDir, "--", "--json"],
      message: "`check` takes no arguments, so `--` is not accepted",
    },
    {
      name: "reload -- extra",
      command: "reload",
      args: (t) => ["reload", "--conf-dir", t.confDir, "--", "extra"],
      message: "`reload` takes no arguments, so `--` is not accepted",
    },
    {
      name: "start --wait-timeout= (empty)",
      command: "start",
      args: () => ["start", "--wait-timeout="],
      message: "flag `--wait-timeout` expects a value (SECONDS), got an empty one",
    },
    {
      name: "entrypoint --hook-timeout= (empty)",
      command: "entrypoint",
      args: () => ["entrypoint", "--hook-timeout=", "/bin/true"],
      message: "flag `--hook-timeout` expects a value (SECONDS), got an empty one",
    },
    {
      name: "an unknown flag",
      command: "sni-map",
      args: (t) => [...sniArgs(t), "--bogus"],
      message: "unknown flag `--bogus` for `sni-map`",
    },
    {
      name: "start --wait-timeout=abc, reported before the environment",
      command: "start",
      args: (t) => ["start", "--wait-timeout=abc", "--conf-dir", t.confDir, "--ssl-dir", t.sslDir],
      message: "flag `--wait-timeout` expects a number of seconds greater than 0 (e.g. 30 or 1.5), got `abc`",
    },
  ];
  for (const testCase of usageCases) {
    adversarial(testCase.name, async () => {
      const tree = freshTree();
      const result = await runBin(testCase.args(tree), { env: startEnv() });
      expectRun(result, { exitCode: 2, lines: 2 });
      expect(result.lines).toEqual([
        `mailcow-postfix-init: error: ${testCase.message}`,
        `mailcow-postfix-init: hint: run \`mailcow-postfix-init ${testCase.command} --help\``,
      ]);
      expect(readdirSync(tree.confDir)).toEqual(["main.cf"]);
    });
  }
});

describe("filesystem mistakes: one line, exit 1, no stack trace", () => {
  adversarial("--conf-dir naming a file", async () => {
    const tree = freshTree();
    const result = await runBin(["sni-map", "--ssl-dir", tree.sslDir, "--conf-dir", join(tree.confDir, "main.cf"), "--hostname", HOSTNAME]);
    expectRun(result, { exitCode: 1, lines: 1 });
    expect(result.lines[0]).toContain("ENOTDIR");
  });

  adversarial("--conf-dir that does not exist", async () => {
    const tree = freshTree();
    const result = await runBin(["sni-map", "--ssl-dir", tree.sslDir, "--conf-dir", join(tree.root, "missing"), "--hostname", HOSTNAME]);
    expectRun(result, { exitCode: 1, lines: 1 });
    expect(result.lines[0]).toContain("ENOENT");
  });

  adversarial("a read-only conf dir (EROFS): the previous map stays", async () => {
    const tree = freshTree();
    const ro = join(tree.root, "ro-conf");
    mountTmpfs(ro, "1m");
    cpSync(tree.confDir, ro, { recursive: true });
    expect((await runBin(sniArgs({ ...tree, confDir: ro }))).exitCode).toBe(0);
    expect(Bun.spawnSync(["mount", "-o", "remount,ro", ro]).exitCode).toBe(0);
    const result = await runBin(sniArgs({ ...tree, confDir: ro }));
    expectRun(result, { exitCode: 1, lines: 1 });
    expect(result.lines[0]).toContain("EROFS");
    expectMapAgrees(ro);
  });

  adversarial("an unwritable conf dir for an unprivileged user (EACCES)", async () => {
    const tree = freshTree();
    // As nobody: the conf dir (root's, 0755) is not writable.
    const result = await runBin(sniArgs(tree), { user: 65534 });
    expectRun(result, { exitCode: 1, lines: 1 });
    expect(result.lines[0]).toContain("EACCES");
  });

  adversarial("--ssl-dir naming a file", async () => {
    const tree = freshTree();
    const result = await runBin([
      "sni-map",
      "--ssl-dir",
      join(tree.sslDir, "cert.pem"),
      "--conf-dir",
      tree.confDir,
      "--hostname",
      HOSTNAME,
    ]);
    expectRun(result, { exitCode: 1, lines: 1 });
    expect(result.lines[0]).toContain("cannot read the SSL directory");
  });

  adversarial("a full disk during postmap: one line (not Berkeley DB's flood), the previous map stays", async () => {
    const tree = freshTree();
    const small = join(tree.root, "small-conf");
    mountTmpfs(small, "160k");
    cpSync(tree.confDir, small, { recursive: true });
    expect((await runBin(sniArgs({ ...tree, confDir: small }))).exitCode).toBe(0);
    const before = readFileSync(join(small, "sni.map.db"));
    // Fill the disk to the last few KB: the new sni.map fits, postmap's .db does not.
    Bun.spawnSync(["dd", "if=/dev/zero", `of=${join(small, "filler")}`, "bs=1k", "count=1000"], { stderr: "pipe" });
    Bun.spawnSync(["rm", "-f", join(small, ".sni-validation-cache.json")]);
    // Every run rebuilds the pair, so the same tree makes postmap write a new .db.
    const result = await runBin(sniArgs({ ...tree, confDir: small }));
    expectRun(result, { exitCode: 1, lines: 1 });
    expect(result.lines[0]).toMatch(/postmap|ENOSPC|No space/);
    expect(readFileSync(join(small, "sni.map.db")).equals(before)).toBe(true);
    expectMapAgrees(small);
    expect(readdirSync(small).filter((name) => name.includes(".tmp"))).toEqual([]);
  });

  adversarial("a hostname with control characters: one escaped line, exit 1", async () => {
    const tree = freshTree();
    const result = await runBin(sniArgs(tree, "--hostname", "mail\x1b[2J.example.test\nforged"));
    expectRun(result, { exitCode: 1, lines: 1 });
    expect(result.lines[0]).toContain("is not a valid DNS name");
    expect(existsSync(join(tree.confDir, "sni.map"))).toBe(false);
  });

  adversarial("templates extract --out naming a directory: one line, exit 1", async () => {
    const dir = tempDir();
    const from = join(dir, "postfix.sh");
    cpSync(join(import.meta.dir, "..", "fixtures", "upstream-postfix.sh"), from);
    const result = await runBin(["templates", "extract", "--from", from, "--out", dir]);
    expectRun(result, { exitCode: 1, lines: 1 });
  });
});
