import { afterAll, describe, expect } from "bun:test";
import { chmodSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  adversarial,
  answeringDns,
  childProcesses,
  cleanUp,
  expectMapAgrees,
  expectRun,
  freshTree,
  runBin,
  runEnv,
  SECRET_FORMS,
  SECRETS,
  silentSocket,
  sniArgs,
  spawnBin,
  startEnv,
  startTree,
  tempDir,
} from "./harness.ts";

// Family 3, the environment: secrets in every variable mailcow passes (and one of the admin's
// own), with quotes and backslashes. They reach no log line, no command output, no child's
// argv or environment, and no file that outlives a SIGKILL.

afterAll(cleanUp);

const WAITING_DB = /^mailcow-postfix-init: waiting for database on .*: /;
const GAVE_UP_DB = /^mailcow-postfix-init: error: gave up waiting for database on .* \(timeout 1\.5s\); last error: /;

describe("secrets and the processes start runs", () => {
  adversarial("during the database wait no child has a secret in its argv or environment", async () => {
    const { flags } = startTree();
    const socket = await silentSocket();
    // mariadb-admin scrubs a -p password from its own argv right after it starts, so /proc alone
    // could miss one; the real binary behind a shim that records argv and environment at exec
    // time catches it for sure.
    const shimDir = join(tempDir(), "bin");
    mkdirSync(shimDir);
    const record = join(shimDir, "record");
    const real = Bun.which("mariadb-admin")!;
    writeFileSync(join(shimDir, "mariadb-admin"), `#!/bin/sh\nprintf '%s\\n' "$@" >> ${record}\nenv >> ${record}\nexec ${real} "$@"\n`);
    chmodSync(join(shimDir, "mariadb-admin"), 0o755);
    const env = startEnv({ PATH: `${shimDir}:${process.env.PATH}` });
    const run = spawnBin(
      ["start", ...flags, `--mysql-socket=${socket}`, `--dns-server=${(await answeringDns()).address}`, "--wait-timeout=1.5"],
      { env },
    );
    const pid = await run.pid();
    const seen = new Map<number, { cmdline: string; environ: string }>();
    let finished = false;
    void run.done.then(() => (finished = true));
    while (!finished) {
      for (const child of childProcesses(pid)) seen.set(child.pid, child);
      await Bun.sleep(10);
    }
    const result = await run.done;
    expectRun(result, { exitCode: 1, lines: 2 });
    expect(result.lines[0]).toMatch(WAITING_DB);
    expect(result.lines[1]).toMatch(GAVE_UP_DB);
    const probes = [...seen.values()].filter((child) => child.cmdline.includes("mariadb-admin"));
    expect(probes.length).toBeGreaterThan(0);
    const recorded = readFileSync(record, "utf8");
    expect(recorded).toContain("--defaults-extra-file=/dev/fd/3\n");
    for (const form of SECRET_FORMS) expect(recorded.includes(form), `mariadb-admin was given ${form}`).toBe(false);
    for (const child of seen.values()) {
      for (const form of SECRET_FORMS) {
        expect(child.cmdline.includes(form), `argv of ${child.cmdline.replaceAll("\0", " ")}`).toBe(false);
        expect(child.environ.includes(form), `environment of ${child.cmdline.replaceAll("\0", " ")}`).toBe(false);
      }
      // The option file is an inherited memfd, not a path on disk.
      if (child.cmdline.includes("mariadb-admin")) expect(child.cmdline).toContain("--defaults-extra-file=/dev/fd/3\0");
    }
  });

  adversarial("SIGKILL during the database wait leaves no option file in TMPDIR", async () => {
    const { flags } = startTree();
    const socket = await silentSocket();
    const tmp = tempDir("mpi-adv-tmpdir-");
    const run = spawnBin(["start", ...flags, `--mysql-socket=${socket}`, `--dns-server=${(await answeringDns()).address}`], {
      env: startEnv({ TMPDIR: tmp }),
    });
    const pid = await run.pid();
    for (let attempt = 0; attempt < 2000 && !childProcesses(pid).some((child) => child.cmdline.includes("mariadb-admin")); attempt++)
      await Bun.sleep(5);
    await run.kill("SIGKILL");
    const result = await run.done;
    expect(result.signal).toBe("SIGKILL");
    expect(readdirSync(tmp)).toEqual([]);
  });

  adversarial("an option file a killed run left in TMPDIR is removed by the next start", async () => {
    const { root, flags } = startTree();
    const tmp = tempDir("mpi-adv-tmpdir-");
    // PID 999999999 cannot exist (pid_max is at most 2^22).
    for (const name of ["mailcow-postfix-init-999999999-Qw12er"]) {
      mkdirSync(join(tmp, name), { mode: 0o700 });
      writeFileSync(join(tmp, name, "client.cnf"), `[client]\npassword="${SECRETS.DBPASS}"\n`, { mode: 0o600 });
    }
    writeFileSync(join(tmp, "unrelated"), "kept");
    const result = await runBin(
      [
        "start",
        ...flags,
        `--mysql-socket=${join(root.root, "nowhere.sock")}`,
        `--dns-server=${(await answeringDns()).address}`,
        "--wait-timeout=1",
      ],
      { env: startEnv({ TMPDIR: tmp }) },
    );
    expectRun(result, { exitCode: 1, lines: 2 });
    expect(readdirSync(tmp)).toEqual(["unrelated"]);
  });

  adversarial("a missing database socket: two lines, exit 1, no secret", async () => {
    const { root, flags } = startTree();
    const result = await runBin(
      [
        "start",
        ...flags,
        `--mysql-socket=${join(root.root, "nowhere.sock")}`,
        `--dns-server=${(await answeringDns()).address}`,
        "--wait-timeout=1.5",
      ],
      { env: startEnv() },
    );
    expectRun(result, { exitCode: 1, lines: 2 });
    expect(result.lines[1]).toMatch(GAVE_UP_DB);
  });

  adversarial("DBPASS with a line break: one line naming the variable, never the value", async () => {
    const { flags } = startTree();
    const result = await runBin(["start", ...flags], { env: startEnv({ DBPASS: `${SECRETS.DBPASS}\nsecond-line` }) });
    expectRun(result, { exitCode: 1, lines: 1, planted: ["second-line"] });
    expect(result.lines[0]).toBe(
      "mailcow-postfix-init: error: environment variable DBPASS: database password: must not contain line breaks or control characters",
    );
  });

  adversarial("several bad variables: one line each, no value printed", async () => {
    const { flags } = startTree();
    const result = await runBin(["start", ...flags], {
      env: runEnv({ DBNAME: "mailcow", MAILCOW_HOSTNAME: `x${SECRETS.REDISPASS}`, SPAMHAUS_DQS_KEY: `${SECRETS.SPAMHAUS_DQS_KEY}!` }),
    });
    expectRun(result, { exitCode: 1, lines: 3 });
    expect(result.lines.map((line) => line.split(":")[2])).toEqual([
      " environment variable DBUSER",
      " environment variable MAILCOW_HOSTNAME",
      " environment variable SPAMHAUS_DQS_KEY",
    ]);
  });
});

describe("secrets and sni-map / check", () => {
  adversarial("postmap, run by sni-map, gets no secret in its environment", async () => {
    const tree = freshTree();
    const shimDir = join(tempDir(), "bin");
    mkdirSync(shimDir);
    const record = join(shimDir, "environ");
    // The real postmap, behind a shim that records what it was given.
    writeFileSync(join(shimDir, "postmap"), `#!/bin/sh\nenv >> ${record}\necho "$@" >> ${record}\nexec /usr/sbin/postmap "$@"\n`);
    chmodSync(join(shimDir, "postmap"), 0o755);
    const result = await runBin(sniArgs(tree), { env: runEnv({ PATH: `${shimDir}:${process.env.PATH}` }) });
    expectRun(result, { exitCode: 0, lines: 1 });
    const recorded = readFileSync(record, "utf8");
    expect(recorded).toContain("PATH=");
    for (const form of SECRET_FORMS) expect(recorded.includes(form)).toBe(false);
    expectMapAgrees(tree.confDir);
  });

  adversarial("a secret in a directory name is redacted from the error naming that directory", async () => {
    const tree = freshTree();
    const dir = join(tree.sslDir, `x${SECRETS.DBPASS}`);
    renameSync(join(tree.sslDir, "third"), dir);
    writeFileSync(join(dir, "key.pem"), "not a key");
    const result = await runBin(sniArgs(tree));
    expectRun(result, { exitCode: 0, lines: 2 });
    expect(result.lines[0]).toContain("x***");
    expectMapAgrees(tree.confDir);
  });

  adversarial("check --json with a secret in a directory name: redacted in the JSON-escaped form", async () => {
    const tree = freshTree();
    renameSync(join(tree.sslDir, "third"), join(tree.sslDir, `x${SECRETS.DBPASS}`));
    const result = await runBin(["check", "--json", "--ssl-dir", tree.sslDir, "--hostname", "mail.example.test"]);
    expectRun(result, { exitCode: 0, lines: 0 });
    expect(result.stdout).toContain("x***");
  });

  adversarial("an empty MPI_SSL_DIR means the default, like an unset one (only an empty flag is an error)", async () => {
    const result = await runBin(["check", "--hostname", "mail.example.test"], { env: runEnv({ MPI_SSL_DIR: "" }), cwd: tempDir() });
    // /etc/ssl/mail does not exist on the test machine: the default was used, not the cwd.
    expectRun(result, { exitCode: 1, lines: 1 });
    expect(result.lines[0]).toContain("/etc/ssl/mail");
  });
});
