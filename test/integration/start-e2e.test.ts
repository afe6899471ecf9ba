import { afterAll, describe, expect, test } from "bun:test";
import { chownSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { makeCertificate } from "../support/certs.ts";
import { createTestDatabase, startMariadb, TEST_DB, type TestDatabase } from "../support/mariadb.ts";
import {
  childOf,
  isListeningInside,
  servedCertificateInside,
  startContainerNamespace,
  waitForBannerInside,
  type ContainerNamespace,
} from "../support/namespace.ts";
import { buildContainerRoot, FIXTURE_SCRIPT, HOSTNAME, type ContainerRoot } from "../support/namespace-root.ts";
import { OVERRIDDEN, writeImageMainCfInside } from "../support/lived-in.ts";
import { postfixUid } from "../support/postfix-server.ts";
import { archiveSpool, queueFiles, restoreSpoolFromTar } from "../support/queue.ts";

// End to end, as root: private mount, PID and network namespaces laid out like mailcow's
// Postfix container, a real MariaDB on /var/run/mysqld/mysqld.sock, dnsmasq as the resolver
// on loopback, real Postfix. The binary runs with no arguments (= start) and must become the
// Postfix master: SIGTERM to that PID stops Postfix completely.

const BUN = process.execPath;
const MAIN = join(import.meta.dir, "..", "..", "src", "main.ts");
const SMTP_PORT = 25;
const POSTFIX_PROGRAMS = new Set([
  "master",
  "smtpd",
  "tlsmgr",
  "anvil",
  "proxymap",
  "postlogd",
  "qmgr",
  "pickup",
  "cleanup",
  "trivial-rewrite",
  "scache",
]);

interface Setup {
  root: string;
  tree: ContainerRoot;
  db: TestDatabase;
  ns: ContainerNamespace;
}
const setups: Setup[] = [];

/** A container-shaped root with a lived-in conf dir, its own MariaDB and namespace. */
async function setUp(): Promise<Setup> {
  const root = mkdtempSync("/tmp/mpi-e2e-");
  const tree = buildContainerRoot(root, { prefix: "" });
  const db = await startMariadb({ dir: join(root, "mariadb"), socketDir: join(root, "var/run/mysqld") });
  await createTestDatabase(db);
  const ns = await startContainerNamespace(root);
  // The image's own /etc/postfix/main.cf, which plain `postfix set-permissions`, postmap and
  // postalias read (the namespace's /etc is a throwaway overlay).
  await writeImageMainCfInside(ns);
  const setup = { root, tree, db, ns };
  setups.push(setup);
  return setup;
}

afterAll(async () => {
  for (const { ns, db, root } of setups) {
    await ns.stop();
    await db.stop();
    rmSync(root, { recursive: true, force: true });
  }
});

const startEnv = (root: string, credentials: { DBUSER: string; DBPASS: string } = { DBUSER: TEST_DB.user, DBPASS: TEST_DB.password }) => ({
  PATH: process.env.PATH!,
  DBNAME: TEST_DB.name,
  ...credentials,
  MAILCOW_HOSTNAME: HOSTNAME,
  MPI_TEMPLATES: join(root, "usr/local/share/templates.json"),
  // Nothing listens there: the ASN check fails fast and Spamhaus stays off, as without network.
  MPI_ASN_CHECK_URL: "http://127.0.0.1:9/",
  MPI_WAIT_TIMEOUT: "20",
});

/** Generated files (not the .db files Postfix builds) -> bytes, mode, owner. */
function generatedFiles(root: string): Record<string, string> {
  const result: Record<string, string> = {};
  const confDir = join(root, "opt/postfix/conf");
  const visit = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) visit(path);
      else if (!entry.name.endsWith(".db")) {
        const stat = statSync(path);
        result[relative(root, path)] = `${(stat.mode & 0o7777).toString(8)} ${stat.uid}:${stat.gid}\n${readFileSync(path, "utf8")}`;
      }
    }
  };
  visit(confDir);
  return result;
}

/**
 * supervisord starts each program as the leader of its own process group (setpgrp) and stays
 * its parent; `master -s` must still be able to setsid(). `underSupervisor` reproduces that
 * with a small perl parent that forwards SIGTERM and exits with the child's status.
 */
const SUPERVISOR_LIKE = [
  "perl",
  "-e",
  // Its own group first, as supervisord (the container's PID 1) has: nsenter's is outside the PID namespace.
  'setpgrp(0, 0) or die $!; my $c = fork // die $!; if (!$c) { setpgrp(0, 0) or die $!; exec @ARGV or die $! } $SIG{TERM} = sub { kill "TERM", $c }; waitpid($c, 0); exit($? >> 8)',
  "--",
];

async function startPostfix({ ns, root, tree }: Setup, underSupervisor = false) {
  const started = Date.now();
  const spawned = await ns.spawn([...(underSupervisor ? SUPERVISOR_LIKE : []), BUN, MAIN], startEnv(root));
  let pid = spawned.pid;
  for (let attempt = 0; underSupervisor && pid === spawned.pid && attempt < 200; attempt++) {
    try {
      pid = childOf(spawned.pid);
    } catch {
      await Bun.sleep(10);
    }
  }
  const start = { ...spawned, pid };
  try {
    const banner = await waitForBannerInside(ns, SMTP_PORT, 30_000);
    return { ...start, banner, bannerMs: Date.now() - started };
  } catch (error) {
    throw new Error(`${(error as Error).message}\n--- start output:\n${start.output()}\n--- mail.log:\n${recentMailLog({ tree })}`);
  }
}

/** The last lines of Postfix's log, without the configuration notes every process repeats. */
function recentMailLog({ tree }: { tree: ContainerRoot }): string {
  try {
    return readFileSync(tree.logFile, "utf8")
      .split("\n")
      .filter((line) => !line.includes("overriding earlier entry"))
      .slice(-30)
      .join("\n");
  } catch {
    return "(none)";
  }
}

async function stopWithSigterm({ ns }: Setup, start: { pid: number; exited: Promise<number> }) {
  const sent = Date.now();
  process.kill(start.pid, "SIGTERM");
  const exitCode = await Promise.race([start.exited, Bun.sleep(5_000).then(() => "still running")]);
  for (;;) {
    const left = ns.processes().filter((process) => POSTFIX_PROGRAMS.has(process.comm));
    const listening = await isListeningInside(ns, SMTP_PORT);
    if (left.length === 0 && !listening) break;
    if (Date.now() - sent > 5_000)
      throw new Error(`5 s after SIGTERM: ${JSON.stringify(left)} still running, port ${SMTP_PORT} ${listening ? "still bound" : "free"}`);
    await Bun.sleep(50);
  }
  return { exitCode, stoppedMs: Date.now() - sent };
}

describe("start in a container-shaped namespace", () => {
  test("brings Postfix up as the same PID, serves the right certificates, reads the database, refuses a second start, stops on SIGTERM, restarts identically", async () => {
    const setup = await setUp();
    const { ns, tree, root } = setup;
    const first = await startPostfix(setup);
    expect(first.banner).toStartWith("220 ");
    // The PID that ran `start` is now Postfix's master.
    expect(readFileSync(`/proc/${first.pid}/comm`, "utf8").trim()).toBe("master");
    expect(readFileSync(`/proc/${first.pid}/cmdline`, "utf8")).not.toContain(TEST_DB.password);
    expect(readFileSync(`/proc/${first.pid}/environ`, "utf8")).not.toContain(TEST_DB.password);
    expect(first.output()).toContain("mailcow-postfix-init: starting Postfix: exec ");
    expect(first.output()).toContain("no Spamhaus lists: could not check this network's AS");

    for (const name of [HOSTNAME, "example.test"]) {
      expect(await servedCertificateInside(ns, SMTP_PORT, name)).toBe(tree.defaultCert.fingerprint);
    }
    for (const name of ["other.example.test", "www.other.example.test"]) {
      expect(await servedCertificateInside(ns, SMTP_PORT, name)).toBe(tree.otherCert.fingerprint);
    }
    const log = readFileSync(tree.logFile, "utf8");
    expect(log).not.toContain("not matched");

    const map = "mysql:/opt/postfix/conf/sql/mysql_virtual_domains_maps.cf";
    const found = await ns.exec(["postmap", "-c", "/opt/postfix/conf", "-q", "example.test", map]);
    // Judged by its result: the lived-in conf dir makes postmap print configuration warnings.
    expect({ exitCode: found.exitCode, stdout: found.stdout }).toEqual({ exitCode: 0, stdout: "example.test\n" });
    const disabled = await ns.exec(["postmap", "-c", "/opt/postfix/conf", "-q", "disabled.test", map]);
    expect(disabled.exitCode).toBe(1);

    // A second start while this master runs: refused (the pid file's lock is held), and the
    // running Postfix keeps serving.
    const another = await ns.spawn([BUN, MAIN], startEnv(root));
    expect(await another.exited).toBe(1);
    expect(errorLines(another.output())).toEqual([
      expect.stringMatching(/a Postfix master \(pid \d+\) still holds \/var\/spool\/postfix\/pid\/master\.pid; stop it/),
    ]);
    expect(await servedCertificateInside(ns, SMTP_PORT, HOSTNAME)).toBe(tree.defaultCert.fingerprint);

    const filesAfterFirst = generatedFiles(setup.root);
    expect(Object.keys(filesAfterFirst)).toContain("opt/postfix/conf/sql/mysql_virtual_domains_maps.cf");
    const stop = await stopWithSigterm(setup, first);
    expect(stop.exitCode).not.toBe("still running");

    // supervisord's restart: starts cleanly on the same volumes, every generated file identical.
    const second = await startPostfix(setup, true);
    expect(readFileSync(`/proc/${second.pid}/comm`, "utf8").trim()).toBe("master");
    expect(second.banner).toStartWith("220 ");
    expect(generatedFiles(setup.root)).toEqual(filesAfterFirst);
    expect(await servedCertificateInside(ns, SMTP_PORT, "other.example.test")).toBe(tree.otherCert.fingerprint);
    await stopWithSigterm(setup, second);
  }, 60_000);

  test("a restart with nothing changed builds no table (postalias and postmap skipped); a certificate renewed in place is served after the next one", async () => {
    const setup = await setUp();
    const { ns, tree } = setup;
    const inodes = async () => (await ns.exec(["stat", "-c", "%i", "/opt/postfix/conf/sni.map.db", "/etc/aliases.db"])).stdout.trim();
    const unchangedMap = "(unchanged: no certificate, key or map file changed since sni.map.db was built)";
    // The first start writes /etc/aliases (the template differs from the image's), so its
    // table is recorded by the second: from the third on a restart skips both.
    for (const run of [1, 2]) await stopWithSigterm(setup, await startPostfix(setup, run === 2));
    const before = await inodes();
    const restart = await startPostfix(setup, true);
    expect(restart.output()).toContain(unchangedMap);
    expect(restart.output()).toContain(
      "mailcow-postfix-init: postalias skipped: /etc/aliases and its .db are unchanged since they were built",
    );
    expect(await inodes()).toBe(before);
    await expectRightCertificates(setup);
    await stopWithSigterm(setup, restart);

    // Renewed as acme does it in a running install: new key and certificate at the same paths.
    const renewed = makeCertificate(dirname(tree.otherCert.certFile), { names: ["other.example.test", "www.other.example.test"] });
    expect(renewed.fingerprint).not.toBe(tree.otherCert.fingerprint);
    const afterRenewal = await startPostfix(setup, true);
    expect(afterRenewal.output()).not.toContain(unchangedMap);
    expect(errorLines(afterRenewal.output())).toEqual([]);
    for (const name of ["other.example.test", "www.other.example.test"]) {
      expect({ name, served: await servedCertificateInside(ns, SMTP_PORT, name) }).toEqual({ name, served: renewed.fingerprint });
    }
    expect({ name: HOSTNAME, served: await servedCertificateInside(ns, SMTP_PORT, HOSTNAME) }).toEqual({
      name: HOSTNAME,
      served: tree.defaultCert.fingerprint,
    });
    await stopWithSigterm(setup, afterRenewal);
  }, 90_000);
});

/** Every name of the tree served the certificate it should get, through postscreen and the milter. */
async function expectRightCertificates({ ns, tree }: Setup) {
  for (const name of [HOSTNAME, "example.test"]) {
    expect({ name, served: await servedCertificateInside(ns, SMTP_PORT, name) }).toEqual({ name, served: tree.defaultCert.fingerprint });
  }
  for (const name of ["other.example.test", "www.other.example.test"]) {
    expect({ name, served: await servedCertificateInside(ns, SMTP_PORT, name) }).toEqual({ name, served: tree.otherCert.fingerprint });
  }
}

/** Our lines that are errors (warnings about the admin's config are expected, errors are not). */
const errorLines = (output: string) => output.split("\n").filter((line) => line.startsWith("mailcow-postfix-init: error:"));

describe("switch from the stock start on the same lived-in conf dir", () => {
  // As an admin switching an install over: the stock-shaped script has run on this conf dir
  // (and appended extra.cf, which overrides main.cf settings, under the Overrides marker),
  // then our start runs on the same volumes, first start and restart. The image's own
  // /etc/postfix/main.cf is there, as in mailcow's image.
  test("stock start, then ours: banner, right certificates, no error line; reload and sni-map succeed; restart too", async () => {
    const setup = await setUp();
    const { ns, db } = setup;
    // A password the stock script's unquoted -p$DBPASS survives.
    await db.sql("CREATE USER 'plain'@'localhost' IDENTIFIED BY 'plain-Pass_1'; GRANT ALL ON mailcow_test.* TO 'plain'@'localhost';");
    const credentials = { DBUSER: "plain", DBPASS: "plain-Pass_1" };

    const stock = await ns.spawn(["bash", FIXTURE_SCRIPT], startEnv(setup.root, credentials));
    await waitForBannerInside(ns, SMTP_PORT, 30_000).catch((error) => {
      throw new Error(`${error.message}\n--- stock output:\n${stock.output()}`);
    });
    // The override is in effect under stock too: sessions get past the missing milter.
    expect(await servedCertificateInside(ns, SMTP_PORT, "other.example.test")).toBe(setup.tree.otherCert.fingerprint);
    const mainCf = readFileSync(join(setup.root, "opt/postfix/conf/main.cf"), "utf8");
    expect(mainCf).toContain(`# User Overrides\nmyhostname = ${HOSTNAME}\n`);
    expect(mainCf).toContain(`\n${OVERRIDDEN.name} = ${OVERRIDDEN.base}\n`);
    expect(mainCf).toContain(`\n${OVERRIDDEN.name} = ${OVERRIDDEN.extra}\n`);
    // Stop it as supervisord would: the script's sleep ends, its EXIT trap stops Postfix.
    process.kill(childOf(stock.pid), "SIGTERM");
    await Promise.race([stock.exited, Bun.sleep(10_000)]);
    for (let waited = 0; (await isListeningInside(ns, SMTP_PORT)) && waited < 100; waited++) await Bun.sleep(100);

    const first = await startPostfix(setup, true);
    expect(first.banner).toStartWith("220 ");
    await expectRightCertificates(setup);
    expect(errorLines(first.output())).toEqual([]);
    // Postfix's configuration warnings are passed on once each, not as failures.
    const overriding = first
      .output()
      .split("\n")
      .filter((line) => line.includes(`overriding earlier entry: ${OVERRIDDEN.name}`));
    expect(overriding).toHaveLength(1);

    // After a renewal: `reload` and `sni-map` on the same conf dir, inside the container.
    const env = startEnv(setup.root, credentials);
    for (const command of [["sni-map"], ["reload"]]) {
      const result = await ns.exec([BUN, MAIN, ...command], { pid: true, env });
      expect({ command, exitCode: result.exitCode, errors: errorLines(result.stderr) }).toEqual({ command, exitCode: 0, errors: [] });
    }
    await expectRightCertificates(setup);

    await stopWithSigterm(setup, first);
    const second = await startPostfix(setup, true);
    expect(second.banner).toStartWith("220 ");
    await expectRightCertificates(setup);
    expect(errorLines(second.output())).toEqual([]);
    expect(readFileSync(join(setup.root, "opt/postfix/conf/main.cf"), "utf8").split("# User Overrides").length).toBe(2);
    await stopWithSigterm(setup, second);
  }, 120_000);
});

describe("restart after the spool was restored from a tar backup", () => {
  // mailcow leaves enable_long_queue_ids off, so a queue file's name encodes its inode, and
  // backup_and_restore.sh restores the postfix volume with tar: every file gets a new inode.
  // `postfix start` renames such files (postsuper) before master runs; so must `start`.
  test("a held message is renamed at start, then delivered to a local sink: nothing in the queue is lost", async () => {
    const setup = await setUp();
    const { ns, root } = setup;
    const spool = join(root, "var/spool/postfix");
    const confDir = join(root, "opt/postfix/conf");
    // Mail for sink.test goes to an SMTP sink on loopback (custom_transport.pcre is the admin's
    // transport map, created by the startup only when missing).
    writeFileSync(join(confDir, "custom_transport.pcre"), "/@sink\\.test$/ smtp:[127.0.0.1]:2525\n");
    // postsuper runs as the postfix user and, before postlogd runs, appends to maillog_file
    // itself: that file must be writable by postfix, else the repair fails after renaming
    // (as `postfix start` would; mailcow itself logs to syslog).
    writeFileSync(setup.tree.logFile, "", { mode: 0o600 });
    chownSync(setup.tree.logFile, postfixUid(), -1);

    const first = await startPostfix(setup);
    const marker = `restored-${Date.now()}`;
    const sent = await ns.exec(["sendmail", "-f", "sender@example.test", "someone@sink.test"], {
      stdin: `Subject: restore test\n\n${marker}\n`,
    });
    expect({ exitCode: sent.exitCode, stderr: sent.stderr }).toEqual({ exitCode: 0, stderr: "" });
    // The sink is not up yet: the message is deferred; the admin puts it on hold.
    await waitFor(
      () => queueFiles(spool).some((file) => file.queue === "deferred"),
      20_000,
      () => `${JSON.stringify(queueFiles(spool))}\n${recentMailLog(setup)}`,
    );
    expect((await ns.exec(["postsuper", "-c", "/opt/postfix/conf", "-h", "ALL"])).exitCode).toBe(0);
    await stopWithSigterm(setup, first);
    expect(queueFiles(spool).map((file) => file.queue)).toEqual(["hold"]);

    const archive = join(root, "postfix-volume.tar");
    archiveSpool(spool, archive);
    restoreSpoolFromTar(spool, archive);
    const restored = queueFiles(spool);
    expect(restored.map((file) => ({ queue: file.queue, nameMatchesInode: file.nameMatchesInode }))).toEqual([
      { queue: "hold", nameMatchesInode: false },
    ]);

    const sinkDir = join(root, "var/lib/postfix/sink");
    mkdirSync(sinkDir);
    chownSync(sinkDir, postfixUid(), -1);
    await ns.spawn(["smtp-sink", "-u", "postfix", "-d", "/var/lib/postfix/sink/%M.", "127.0.0.1:2525", "10"], { PATH: process.env.PATH! });

    const second = await startPostfix(setup, true);
    expect(second.output()).toContain("postsuper: Renamed to match inode number: 1 message");
    const repaired = queueFiles(spool);
    expect(repaired.map((file) => ({ queue: file.queue, nameMatchesInode: file.nameMatchesInode, owner: file.owner }))).toEqual([
      { queue: "hold", nameMatchesInode: true, owner: restored[0]!.owner },
    ]);

    // Released and flushed as an admin would: delivered, and the queue is empty.
    expect((await ns.exec(["postsuper", "-c", "/opt/postfix/conf", "-H", "ALL"])).exitCode).toBe(0);
    expect((await ns.exec(["postqueue", "-f"])).exitCode).toBe(0);
    const delivered = () => readdirSync(sinkDir).map((name) => readFileSync(join(sinkDir, name), "utf8"));
    await waitFor(
      () => delivered().some((message) => message.includes(marker)) && queueFiles(spool).length === 0,
      20_000,
      () => `${JSON.stringify(queueFiles(spool))} ${delivered().length} delivered\n${recentMailLog(setup)}`,
    );
    expect(delivered().filter((message) => message.includes(marker))).toHaveLength(1);
    await stopWithSigterm(setup, second);
  }, 120_000);
});

async function waitFor(condition: () => boolean, timeoutMs: number, describe: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${describe()}`);
    await Bun.sleep(100);
  }
}
