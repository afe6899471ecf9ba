import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { createTestDatabase, startMariadb, TEST_DB, type TestDatabase } from "../support/mariadb.ts";
import { childOf, isListeningInside, servedCertificateInside, startContainerNamespace, waitForBannerInside, type ContainerNamespace } from "../support/namespace.ts";
import { buildContainerRoot, HOSTNAME, type ContainerRoot } from "../support/namespace-root.ts";

// End to end, as root: private mount, PID and network namespaces laid out like mailcow's
// Postfix container, a real MariaDB on /var/run/mysqld/mysqld.sock, dnsmasq as the resolver
// on loopback, real Postfix. The binary runs with no arguments (= start) and must become the
// Postfix master: SIGTERM to that PID stops Postfix completely.

const BUN = process.execPath;
const MAIN = join(import.meta.dir, "..", "..", "src", "main.ts");
const SMTP_PORT = 25;
const POSTFIX_PROGRAMS = new Set(["master", "smtpd", "tlsmgr", "anvil", "proxymap", "postlogd", "qmgr", "pickup", "cleanup", "trivial-rewrite", "scache"]);

let root: string;
let tree: ContainerRoot;
let db: TestDatabase;
let ns: ContainerNamespace;

beforeAll(async () => {
  root = mkdtempSync("/tmp/mpi-e2e-");
  tree = buildContainerRoot(root, { prefix: "" });
  db = await startMariadb({ dir: join(root, "mariadb"), socketDir: join(root, "var/run/mysqld") });
  await createTestDatabase(db);
  ns = await startContainerNamespace(root);
}, 30_000);

afterAll(async () => {
  await ns?.stop();
  await db?.stop();
  rmSync(root, { recursive: true, force: true });
});

const startEnv = () => ({
  PATH: process.env.PATH!,
  DBNAME: TEST_DB.name,
  DBUSER: TEST_DB.user,
  DBPASS: TEST_DB.password,
  MAILCOW_HOSTNAME: HOSTNAME,
  MPI_TEMPLATES: join(root, "usr/local/share/templates.json"),
  // Nothing listens there: the ASN check fails fast and Spamhaus stays off, as without network.
  MPI_ASN_CHECK_URL: "http://127.0.0.1:9/",
  MPI_WAIT_TIMEOUT: "20",
});

/** Generated files (not the .db files Postfix builds) -> bytes, mode, owner. */
function generatedFiles(): Record<string, string> {
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

async function startPostfix(underSupervisor = false) {
  const started = Date.now();
  const spawned = await ns.spawn([...(underSupervisor ? SUPERVISOR_LIKE : []), BUN, MAIN], startEnv());
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
    throw new Error(`${(error as Error).message}\n--- start output:\n${start.output()}`);
  }
}

async function stopWithSigterm(start: { pid: number; exited: Promise<number> }) {
  const sent = Date.now();
  process.kill(start.pid, "SIGTERM");
  const exitCode = await Promise.race([start.exited, Bun.sleep(5_000).then(() => "still running")]);
  for (;;) {
    const left = ns.processes().filter((process) => POSTFIX_PROGRAMS.has(process.comm));
    const listening = await isListeningInside(ns, SMTP_PORT);
    if (left.length === 0 && !listening) break;
    if (Date.now() - sent > 5_000) throw new Error(`5 s after SIGTERM: ${JSON.stringify(left)} still running, port ${SMTP_PORT} ${listening ? "still bound" : "free"}`);
    await Bun.sleep(50);
  }
  return { exitCode, stoppedMs: Date.now() - sent };
}

describe("start in a container-shaped namespace", () => {
  test("brings Postfix up as the same PID, serves the right certificates, reads the database, stops on SIGTERM, restarts identically", async () => {
    const first = await startPostfix();
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
    expect(found).toEqual({ exitCode: 0, stdout: "example.test\n", stderr: "" });
    const disabled = await ns.exec(["postmap", "-c", "/opt/postfix/conf", "-q", "disabled.test", map]);
    expect(disabled.exitCode).toBe(1);

    const filesAfterFirst = generatedFiles();
    expect(Object.keys(filesAfterFirst)).toContain("opt/postfix/conf/sql/mysql_virtual_domains_maps.cf");
    const stop = await stopWithSigterm(first);
    expect(stop.exitCode).not.toBe("still running");

    // supervisord's restart: starts cleanly on the same volumes, every generated file identical.
    const second = await startPostfix(true);
    expect(readFileSync(`/proc/${second.pid}/comm`, "utf8").trim()).toBe("master");
    expect(second.banner).toStartWith("220 ");
    expect(generatedFiles()).toEqual(filesAfterFirst);
    expect(await servedCertificateInside(ns, SMTP_PORT, "other.example.test")).toBe(tree.otherCert.fingerprint);
    await stopWithSigterm(second);
  }, 60_000);
});
