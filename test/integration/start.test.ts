import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import type { Env } from "../../src/env.ts";
import { createStartCommand } from "../../src/commands/start.ts";
import { defaultStartDeps, type StartDeps } from "../../src/commands/start-run.ts";
import { RCODE, startDnsmasq, startRcodeDns, type TestDnsServer } from "../support/dns.ts";
import { createTestDatabase, startMariadb, TEST_DB, type TestDatabase } from "../support/mariadb.ts";
import { buildContainerRoot, HOSTNAME, withFlags, type ContainerRoot } from "../support/namespace-root.ts";
import { LIVED_IN } from "../support/lived-in.ts";
import { runCli } from "../support/cli.ts";
import { writeSettledFile } from "../support/tmp.ts";
import { testEnv } from "../support/fixture.ts";
import { handToAdmin, statListing } from "../support/admin-owned.ts";
import { makeHeldMessageArchive, queueFiles, restoreSpoolFromTar } from "../support/queue.ts";
import { lookupPostfixIds } from "../../src/steps/permissions.ts";
import { makeCertificate } from "../support/certs.ts";
import { TEST_MAIL_CONFIG } from "../support/host-guard.ts";
import { recordingToolsDir } from "../support/postfix-tools.ts";

// `start` against a container-shaped temp tree, real MariaDB, DNS and Postfix tools; the final
// exec is replaced so the test sees what would have been executed.

let db: TestDatabase;
let dns: TestDnsServer;
const roots: string[] = [];
beforeAll(async () => {
  db = await startMariadb();
  await createTestDatabase(db);
  dns = await startDnsmasq();
});
afterAll(async () => {
  await Promise.all([db?.stop(), dns?.stop()]);
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

function tree(): ContainerRoot {
  const root = mkdtempSync("/tmp/mpi-start-");
  roots.push(root);
  return buildContainerRoot(root, { prefix: root });
}

// MAIL_CONFIG: the run's empty default config dir, also for a child process (host-guard.ts).
const goodEnv = (): Env => testEnv({ DBNAME: TEST_DB.name, DBUSER: TEST_DB.user, DBPASS: TEST_DB.password, MAILCOW_HOSTNAME: HOSTNAME });

async function start(root: ContainerRoot, env: Env, extraFlags: string[] = [], deps: Partial<StartDeps> = {}) {
  const execs: { path: string; argv: string[]; env: Env }[] = [];
  const command = createStartCommand({
    ...defaultStartDeps,
    exec: (path, argv, childEnv) => void execs.push({ path, argv, env: childEnv }),
    checkAsn: async () => ({ kind: "not-listed" }),
    signal: new AbortController().signal,
    retryMs: { database: 50, dns: 50 },
    ...deps,
  });
  const words = withFlags([...root.startFlags, `--mysql-socket=${db.socket}`, `--dns-server=${dns.address}`], extraFlags);
  const result = await runCli(["start", ...words], env, [command]);
  return { exitCode: result.exitCode, execs, log: result.lines.join("\n") };
}

/** Every file under the conf dir and the aliases file: path -> bytes, mode, owner. */
function snapshot(root: ContainerRoot): Record<string, string> {
  const result: Record<string, string> = {};
  const visit = (dir: string) => {
    for (const name of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, name.name);
      if (name.isDirectory()) visit(path);
      else {
        const stat = statSync(path);
        result[relative(root.root, path)] =
          `${(stat.mode & 0o7777).toString(8)} ${stat.uid}:${stat.gid} ${name.name.endsWith(".db") ? "" : readFileSync(path, "utf8")}`;
      }
    }
  };
  visit(root.confDir);
  return result;
}

describe("start", () => {
  test("prepares everything and execs the Postfix master; a second start is byte-identical", async () => {
    const root = tree();
    const first = await start(root, goodEnv());
    expect(first.log).not.toContain(": error:");
    expect(first.exitCode).toBe(0);
    expect(first.execs).toHaveLength(1);
    const exec = first.execs[0]!;
    expect(exec.path).toEndWith("/master");
    expect(exec.argv).toEqual([exec.path, "-s", "-c", root.confDir]);
    expect(exec.env.DBPASS).toBeUndefined();
    expect(exec.env.MAILCOW_HOSTNAME).toBe(HOSTNAME);
    expect(first.log).not.toContain(TEST_DB.password);

    const main = readFileSync(join(root.confDir, "main.cf"), "utf8");
    expect(main).toContain("# Overrides #\n\npostscreen_dnsbl_sites = allow.fixture.test");
    expect(main).toContain(`  open.fixture.test=127.0.0.9*7\n\n# User Overrides\n${readFileSync(join(LIVED_IN, "extra.cf"), "utf8")}`);
    // The tail a previous start appended was replaced, not appended to.
    expect(main.split("# User Overrides").length).toBe(2);
    // The lived-in conf dir makes Postfix's tools warn (extra.cf overrides main.cf settings):
    // logged, each distinct warning once, and never a failure.
    const overriding = first.log.split("\n").filter((line) => line.includes("overriding earlier entry"));
    const settings = overriding.map((line) => line.replace(/.*overriding earlier entry: /, "").split("=")[0]);
    expect(settings.length).toBeGreaterThan(0);
    expect(new Set(settings).size).toBe(settings.length);
    expect(readFileSync(join(root.confDir, "sql", "mysql_virtual_domains_maps.cf"), "utf8")).toContain(`password = ${TEST_DB.password}\n`);
    expect(readFileSync(root.aliasesFile, "utf8")).toStartWith("# fixture aliases\n");
    expect(readFileSync(join(root.confDir, "sni.map"), "utf8")).toContain(`${HOSTNAME} ${root.sslDir}/key.pem ${root.sslDir}/cert.pem`);
    expect(statSync(join(root.confDir, "sni.map.db")).mode & 0o777).toBe(0o600);

    const before = snapshot(root);
    const second = await start(root, goodEnv());
    expect(second.exitCode).toBe(0);
    expect(snapshot(root)).toEqual(before);
  });

  test("every Postfix tool it runs gets the MAIL_CONFIG start received, not this process's", async () => {
    const root = tree();
    const configDir = mkdtempSync("/tmp/mpi-start-mail-config-");
    roots.push(configDir);
    const tools = recordingToolsDir(root.root);
    const env = { ...goodEnv(), PATH: `${tools.bin}:${process.env.PATH}`, MAIL_CONFIG: configDir };
    delete process.env.MAIL_CONFIG;
    let result: Awaited<ReturnType<typeof start>>;
    try {
      result = await start(root, env);
    } finally {
      process.env.MAIL_CONFIG = TEST_MAIL_CONFIG;
    }
    expect(result.exitCode).toBe(0);
    const calls = tools.calls();
    expect([...new Set(calls.map((call) => call.program))]).toEqual(
      expect.arrayContaining(["postalias", "postconf", "postmap", "postsuper"]),
    );
    expect(calls.filter((call) => call.mailConfig !== configDir)).toEqual([]);
  });

  test("missing or bad environment: one line per variable, exit 1, nothing written", async () => {
    const root = tree();
    const before = snapshot(root);
    const result = await start(root, testEnv({ DBPASS: "unused-password", MAILCOW_HOSTNAME: "localhost" }));
    expect(result.exitCode).toBe(1);
    expect(result.log.split("\n")).toEqual([
      "mailcow-postfix-init: error: environment variable DBNAME: required, must be set",
      "mailcow-postfix-init: error: environment variable DBUSER: required, must be set",
      "mailcow-postfix-init: error: environment variable MAILCOW_HOSTNAME: must be a fully qualified domain name such as mail.example.org (letters, digits, hyphens; at least two labels; no trailing dot)",
    ]);
    expect(snapshot(root)).toEqual(before);
    expect(result.execs).toEqual([]);
  });

  test("missing templates: names the path and how to make it", async () => {
    const root = tree();
    rmSync(root.templatesFile);
    const result = await start(root, goodEnv());
    expect(result.exitCode).toBe(1);
    expect(result.log).toBe(
      `mailcow-postfix-init: error: cannot read templates ${root.templatesFile}: ENOENT; run \`mailcow-postfix-init templates extract --from /opt/postfix.sh --out ${root.templatesFile}\``,
    );
    writeFileSync(root.templatesFile, '{"format": 2}');
    expect((await start(root, goodEnv())).log).toContain(`templates ${root.templatesFile} is invalid at format`);
  });

  test("main.cf without the Overrides marker: refused, main.cf unchanged, no exec", async () => {
    const root = tree();
    const mainCf = join(root.confDir, "main.cf");
    // Every line naming the marker (the "# User Overrides" line of the appended tail too).
    const content = readFileSync(mainCf, "utf8")
      .split("\n")
      .filter((line) => !line.includes("Overrides"))
      .join("\n");
    writeSettledFile(mainCf, content);
    const result = await start(root, goodEnv());
    expect(result.exitCode).toBe(1);
    expect(result.log).toContain('has no line containing "Overrides"');
    expect(readFileSync(mainCf, "utf8")).toBe(content);
    expect(result.execs).toEqual([]);
  });

  test("a configuration error: postconf's message verbatim, exit 1, no exec", async () => {
    const root = tree();
    writeFileSync(join(root.confDir, "extra.cf"), "this line has no equals sign\n");
    const result = await start(root, goodEnv());
    expect(result.exitCode).toBe(1);
    expect(result.log).toContain(`Postfix configuration error, refusing to start (postconf -c ${root.confDir}):`);
    expect(result.log).toMatch(/postconf: fatal: .*main\.cf, line \d+: missing '=' after attribute name: "this line has no equals sign"/);
    expect(result.execs).toEqual([]);
  });

  test("wrong database password with a wait timeout: gives up with the reason, password never logged", async () => {
    const root = tree();
    const result = await start(root, { ...goodEnv(), DBPASS: "wrong-pass-123" }, ["--wait-timeout=0.3"]);
    expect(result.exitCode).toBe(1);
    expect(result.log).toContain("gave up waiting for database on");
    expect(result.log).toContain("Access denied for user");
    expect(result.log).not.toContain("wrong-pass-123");
    expect(result.execs).toEqual([]);
  });

  test("an interrupt during the wait ends start with 143", async () => {
    const root = tree();
    const controller = new AbortController();
    const { interruptionFor } = await import("../../src/signals.ts");
    setTimeout(() => controller.abort(interruptionFor("SIGTERM")), 200);
    const result = await start(root, { ...goodEnv(), DBPASS: "wrong" }, [], { signal: controller.signal });
    expect(result.exitCode).toBe(143);
    expect(result.log).toContain("interrupted by SIGTERM while waiting for database");
  });

  test("a real process: SIGTERM / SIGINT during the database wait exit 143 / 130 at once", async () => {
    const root = tree();
    for (const [signal, code] of [
      ["SIGTERM", 143],
      ["SIGINT", 130],
    ] as const) {
      const proc = Bun.spawn(
        [
          process.execPath,
          join(import.meta.dir, "../../src/main.ts"),
          "start",
          ...root.startFlags,
          `--mysql-socket=${root.mysqlDir}/none.sock`,
        ],
        {
          env: goodEnv() as Record<string, string>,
          stderr: "pipe",
        },
      );
      const reader = proc.stderr.getReader();
      let seen = "";
      while (!seen.includes("waiting for database")) {
        const chunk = await reader.read();
        if (chunk.done) break;
        seen += new TextDecoder().decode(chunk.value);
      }
      const sent = Date.now();
      proc.kill(signal);
      expect(await proc.exited).toBe(code);
      expect(Date.now() - sent).toBeLessThan(1_000);
    }
  });

  test("a resolver answering SERVFAIL (an upstream DNS problem) does not keep Postfix down", async () => {
    const servfail = await startRcodeDns(RCODE.SERVFAIL);
    try {
      const result = await start(tree(), goodEnv(), [`--dns-server=${servfail.address}`, "--wait-timeout=5"]);
      expect(result.log).not.toContain("waiting for DNS");
      expect(result.exitCode).toBe(0);
      expect(result.execs).toHaveLength(1);
      expect(servfail.queries()).toBeGreaterThan(0);
    } finally {
      await servfail.stop();
    }
  });

  test("--wait-timeout must be a positive number (a usage error, before the environment is read)", async () => {
    const result = await start(tree(), {}, ["--wait-timeout=soon"]);
    expect(result.exitCode).toBe(2);
    expect(result.log).toBe(
      "mailcow-postfix-init: error: flag `--wait-timeout` expects a number of seconds greater than 0 (e.g. 30 or 1.5), got `soon`\nmailcow-postfix-init: hint: run `mailcow-postfix-init start --help`",
    );
  });
});

describe("start does what `postfix start` checks first, and leaves the admin's files alone", () => {
  let archive: string;
  beforeAll(async () => {
    const dir = mkdtempSync("/tmp/mpi-queue-");
    roots.push(dir);
    statSync(dir);
    Bun.spawnSync(["chmod", "755", dir]);
    archive = await makeHeldMessageArchive(dir, "restored-message", "someone@sink.test");
  }, 30_000);

  test("a conf dir owned by the admin (1000:1000, 775/664) keeps owner and modes of every file it had", async () => {
    const root = tree();
    handToAdmin(root.confDir);
    const before = statListing(root.confDir);
    const result = await start(root, goodEnv());
    expect(result.exitCode).toBe(0);
    const after = statListing(root.confDir);
    expect(Object.fromEntries(Object.keys(before).map((path) => [path, after[path]]))).toEqual(before);
    // What the stock script itself writes there is root-owned, the SQL maps root:postfix 0640.
    const { postfixGid } = lookupPostfixIds();
    expect(after.sql).toBe(`d 0755 0:${postfixGid}`);
    expect(after["sql/mysql_virtual_domains_maps.cf"]).toBe(`f 0640 0:${postfixGid}`);
    expect(after["custom_transport.pcre"]).toBe(`f 0640 0:${postfixGid}`);
  });

  test("a queue file restored from a tar backup (name no longer matching its inode) is renamed by postsuper before the exec", async () => {
    const root = tree();
    restoreSpoolFromTar(root.spoolDir, archive);
    const shape = () => queueFiles(root.spoolDir).map((file) => ({ queue: file.queue, nameMatchesInode: file.nameMatchesInode }));
    expect(shape()).toEqual([{ queue: "hold", nameMatchesInode: false }]);
    const result = await start(root, goodEnv());
    expect(result.exitCode).toBe(0);
    expect(result.execs).toHaveLength(1);
    expect(shape()).toEqual([{ queue: "hold", nameMatchesInode: true }]);
    expect(result.log).toContain("postsuper: Renamed to match inode number: 1 message");
  });

  test("a failing postsuper stops the start with its words, no exec", async () => {
    const root = tree();
    restoreSpoolFromTar(root.spoolDir, archive);
    // postsuper drops to the postfix user and, with no postlogd running yet, appends to
    // maillog_file itself: a root-only log file makes it fail after the rename.
    writeFileSync(root.logFile, "", { mode: 0o600 });
    chownSync(root.logFile, 0, 0);
    const result = await start(root, goodEnv());
    expect(result.exitCode).toBe(1);
    expect(result.execs).toEqual([]);
    expect(result.log).toContain(`error: postsuper -c ${root.confDir} (queue repair) failed (exit 1):`);
    expect(result.log).toMatch(/postsuper: fatal: open logfile '.*mail\.log': cannot open file: Permission denied/);
  });

  test("maillog_file set but no postlog service in master.cf: refused as `postfix start` refuses, no exec", async () => {
    const root = tree();
    const masterCf = join(root.confDir, "master.cf");
    writeSettledFile(
      masterCf,
      readFileSync(masterCf, "utf8")
        .split("\n")
        .filter((line) => !line.startsWith("postlog"))
        .join("\n"),
    );
    const result = await start(root, goodEnv());
    expect(result.exitCode).toBe(1);
    expect(result.execs).toEqual([]);
    expect(result.log).toContain(`error: missing 'postlog' service in ${masterCf}`);
  });
});

describe("postfix set-permissions only when something differs from Postfix's postfix-files list", () => {
  // Real Postfix tools: the check reads the same list post-install does; when it finds drift
  // the real `postfix set-permissions` runs (and fixes it), else it is skipped.
  const ran = (log: string) => log.split("\n").filter((line) => line.includes("running postfix set-permissions:"));
  const skipped = (log: string) => log.includes("postfix set-permissions skipped");

  test("a fresh spool runs it; an unchanged restart skips it; a wrong mode, a missing queue dir, a wrong owner each run it and are fixed", async () => {
    const root = tree();
    const first = await start(root, goodEnv());
    expect(first.exitCode).toBe(0);
    expect(ran(first.log)).toHaveLength(1);
    expect(ran(first.log)[0]).toContain(root.root);

    const restart = await start(root, goodEnv());
    expect(restart.exitCode).toBe(0);
    expect({ ran: ran(restart.log), skipped: skipped(restart.log) }).toEqual({ ran: [], skipped: true });

    const incoming = join(root.spoolDir, "incoming");
    const cases: [string, () => void, () => void][] = [
      ["wrong mode", () => chmodSync(incoming, 0o755), () => expect(statSync(incoming).mode & 0o7777).toBe(0o700)],
      [
        "missing queue dir",
        () => rmSync(join(root.spoolDir, "deferred"), { recursive: true }),
        () => expect(statSync(join(root.spoolDir, "deferred")).isDirectory()).toBe(true),
      ],
      ["wrong owner", () => chownSync(incoming, 0, -1), () => expect(statSync(incoming).uid).not.toBe(0)],
    ];
    for (const [what, breakIt, fixed] of cases) {
      breakIt();
      const result = await start(root, goodEnv());
      expect({ what, exitCode: result.exitCode, ran: ran(result.log).length }).toEqual({ what, exitCode: 0, ran: 1 });
      fixed();
      const again = await start(root, goodEnv());
      expect({ what, skipped: skipped(again.log) }).toEqual({ what, skipped: true });
    }
  }, 120_000);
});

describe("a renewal racing start", () => {
  test("30 starts while a writer swaps a certificate directory: never a mixed or truncated pair, never a failed start", async () => {
    const root = tree();
    const name = "race.example.test";
    const raced = join(root.sslDir, name);
    const pairs = ["a", "b"].map((label) => {
      const dir = join(root.root, `pair-${label}`);
      const made = makeCertificate(dir, { names: [name], keyType: label === "a" ? "rsa" : undefined });
      writeFileSync(join(dir, "domains"), name);
      return `${readFileSync(made.keyFile, "utf8")}\n${readFileSync(made.certFile, "utf8")}`;
    });
    cpSync(join(root.root, "pair-a"), raced, { recursive: true });
    const writer = Bun.spawn(
      [process.execPath, join(import.meta.dir, "../support/race-writer.ts"), raced, join(root.root, "pair-a"), join(root.root, "pair-b")],
      { stdout: "ignore", stderr: "inherit" },
    );
    const seen = { a: 0, b: 0, dropped: 0 };
    try {
      for (let run = 0; run < 30; run++) {
        const result = await start(root, goodEnv());
        expect({ run, exitCode: result.exitCode }).toEqual({ run, exitCode: 0 });
        const query = Bun.spawnSync(["postmap", "-c", root.confDir, "-q", name, `hash:${root.confDir}/sni.map`], {
          stdout: "pipe",
          stderr: "pipe",
          env: testEnv(),
        });
        if (query.exitCode !== 0) {
          seen.dropped++;
          expect(result.log.split("\n").filter((line) => line.includes(raced) && line.includes("not mapped"))).toHaveLength(1);
          continue;
        }
        const value = Buffer.from(query.stdout.toString().trim(), "base64").toString();
        const which = pairs.indexOf(value);
        expect({ run, pair: which >= 0 }).toEqual({ run, pair: true });
        if (which === 0) seen.a++;
        else seen.b++;
      }
    } finally {
      writer.kill();
      await writer.exited;
    }
    expect(seen.a + seen.b).toBeGreaterThan(20);
  }, 180_000);
});
