import { afterAll, beforeAll, describe, expect } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startSilentDns, type TestDnsServer } from "../support/dns.ts";
import { createTestDatabase, startMariadb, TEST_DB, type TestDatabase } from "../support/mariadb.ts";
import {
  adversarial,
  answeringDns,
  holdLock,
  childProcesses,
  cleanUp,
  expectRun,
  freshTree,
  runBin,
  runEnv,
  silentSocket,
  sniArgs,
  spawnBin,
  startEnv,
  startTree,
  tempDir,
} from "./harness.ts";

// Family 4, signals and waits: a hung MariaDB (accepts, never greets), a resolver that never
// answers, hooks that hang and leave their session. --wait-timeout is honoured within 1 s,
// SIGTERM/SIGINT end a blocked probe within 1 s, and a hook's whole tree ends with it.

let db: TestDatabase;
let dns: TestDnsServer;
beforeAll(async () => {
  db = await startMariadb();
  await createTestDatabase(db);
  dns = await startSilentDns();
});
afterAll(async () => {
  await Promise.all([db?.stop(), dns?.stop()]);
  cleanUp();
});

/** Seconds between a signal (or the timeout) and the end of the run that the tests allow. */
const WITHIN_MS = 1_000;
const alive = (pid: number) => existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ");

/** start, blocked in the database probe (a socket that never greets); resolves once mariadb-admin runs. */
async function blockedInDatabaseProbe(extraFlags: string[] = []) {
  const { flags } = startTree();
  const socket = await silentSocket();
  const run = spawnBin(["start", ...flags, `--mysql-socket=${socket}`, `--dns-server=${(await answeringDns()).address}`, ...extraFlags], {
    env: startEnv(),
  });
  const pid = await run.pid();
  let probes: number[] = [];
  for (let attempt = 0; attempt < 4000 && probes.length === 0; attempt++) {
    probes = childProcesses(pid)
      .filter((child) => child.cmdline.startsWith("mariadb-admin"))
      .map((child) => child.pid);
    if (probes.length === 0) await Bun.sleep(5);
  }
  expect(probes.length).toBeGreaterThan(0);
  return { run, probes };
}

/** start with a working database, blocked in the DNS probe (a resolver that never answers). */
function blockedInDnsProbe(extraFlags: string[] = []) {
  const { flags } = startTree();
  const env = startEnv({ DBNAME: TEST_DB.name, DBUSER: TEST_DB.user, DBPASS: TEST_DB.password });
  return spawnBin(["start", ...flags, `--mysql-socket=${db.socket}`, `--dns-server=${dns.address}`, ...extraFlags], { env });
}

describe("waits", () => {
  adversarial("--wait-timeout 1 with a hung database: gives up at 1 s, not after mariadb-admin's 5 s", async () => {
    const { run } = await blockedInDatabaseProbe(["--wait-timeout=1"]);
    const result = await run.done;
    expectRun(result, { exitCode: 1, lines: 2, planted: [TEST_DB.password], maxMs: 1_000 + 2_500 });
    expect(result.lines[1]).toContain("gave up waiting for database on");
    expect(result.lines[1]).toContain("(timeout 1.0s)");
  });

  adversarial("SIGTERM during a blocked mariadb-admin: exit 143 within 1 s, the probe is gone", async () => {
    const { run, probes } = await blockedInDatabaseProbe();
    await Bun.sleep(200);
    const signalled = Date.now();
    await run.kill("SIGTERM");
    const result = await run.done;
    expect(Date.now() - signalled).toBeLessThan(WITHIN_MS);
    // Killed during the first attempt: the interruption is the only line.
    expectRun(result, { exitCode: 143, lines: 1 });
    expect(result.lines[0]).toMatch(/^mailcow-postfix-init: error: interrupted by SIGTERM while waiting for database on \S+mysqld\.sock$/);
    for (const probe of probes) expect(alive(probe)).toBe(false);
  });

  adversarial("SIGINT during a blocked mariadb-admin: exit 130 within 1 s", async () => {
    const { run } = await blockedInDatabaseProbe();
    await Bun.sleep(300); // the DNS wait (answered at once) is over
    const signalled = Date.now();
    await run.kill("SIGINT");
    const result = await run.done;
    expect(Date.now() - signalled).toBeLessThan(WITHIN_MS);
    expectRun(result, { exitCode: 130, lines: 1 });
    expect(result.lines[0]).toContain("interrupted by SIGINT while waiting for database");
  });

  adversarial("SIGTERM during the DNS wait (database up): exit 143 within 1 s", async () => {
    const run = blockedInDnsProbe();
    // The first DNS attempt has failed (2 s), the database answered at once: in the DNS wait.
    await run.waitForLine(/waiting for DNS/);
    const signalled = Date.now();
    await run.kill("SIGTERM");
    const result = await run.done;
    expect(Date.now() - signalled).toBeLessThan(WITHIN_MS);
    // The DNS wait runs beside the database wait from the start, so under load its progress
    // line may come first: every other line is exactly that, and the last one names the interrupt.
    const progress = result.lines.filter((line) => /^mailcow-postfix-init: (still )?waiting for DNS \(mailcow\.email\)/.test(line)).length;
    expectRun(result, { exitCode: 143, lines: 1 + progress, planted: [TEST_DB.password] });
    expect(result.lines.at(-1)).toContain("interrupted by SIGTERM while waiting for DNS");
  });

  adversarial("--wait-timeout 1 with a silent resolver: gives up within 1 s of the timeout", async () => {
    const run = blockedInDnsProbe(["--wait-timeout=1"]);
    const result = await run.done;
    expectRun(result, { exitCode: 1, lines: 2, planted: [TEST_DB.password], maxMs: 1_000 + 3_000 });
    expect(result.lines[1]).toContain("gave up waiting for DNS");
  });

  adversarial("SIGTERM while waiting for another run's lock: ends at once, nothing written", async () => {
    const tree = freshTree();
    const holder = await holdLock(tree.confDir);
    try {
      const run = spawnBin(sniArgs(tree));
      await run.pid();
      await Bun.sleep(700);
      const signalled = Date.now();
      await run.kill("SIGTERM");
      const result = await run.done;
      expect(Date.now() - signalled).toBeLessThan(WITHIN_MS);
      expect(result.signal).toBe("SIGTERM");
      expectRun(result, { exitCode: null, lines: 1 });
      expect(existsSync(join(tree.confDir, "sni.map"))).toBe(false);
    } finally {
      holder.kill("SIGKILL");
    }
  });
});

describe("the conf dir lock and start", () => {
  adversarial("start waits for the conf dir lock after the database and DNS waits, and gives up writing nothing", async () => {
    const { root, flags } = startTree();
    const holder = await holdLock(root.confDir);
    try {
      const env = startEnv({ DBNAME: TEST_DB.name, DBUSER: TEST_DB.user, DBPASS: TEST_DB.password, MPI_LOCK_TIMEOUT: "0.5" });
      const result = await runBin(["start", ...flags, `--mysql-socket=${db.socket}`, `--dns-server=${(await answeringDns()).address}`], {
        env,
      });
      expectRun(result, { exitCode: 1, lines: 2, planted: [TEST_DB.password] });
      expect(result.lines[0]).toContain("waiting for another mailcow-postfix-init run to finish writing in the conf dir");
      expect(result.lines[1]).toContain("still holds the lock on");
      expect(existsSync(join(root.confDir, "sni.map"))).toBe(false);
      expect(existsSync(join(root.confDir, "sql"))).toBe(false);
    } finally {
      holder.kill("SIGKILL");
    }
  });
});

describe("hooks", () => {
  /** An entrypoint setup whose one hook starts a setsid'd daemon and then hangs. */
  function hangingHook() {
    const dir = tempDir();
    const hooks = join(dir, "hooks");
    mkdirSync(hooks);
    const pids = join(dir, "pids");
    writeFileSync(
      join(hooks, "10-daemon"),
      `#!/bin/sh\nsetsid sleep 60 < /dev/null > /dev/null 2>&1 &\necho $! >> ${pids}\necho $$ >> ${pids}\nsleep 60\n`,
    );
    chmodSync(join(hooks, "10-daemon"), 0o755);
    const args = [
      "entrypoint",
      `--hooks-dir=${hooks}`,
      `--syslog-ng-dir=${dir}`,
      `--openssl-cnf=${join(dir, "openssl.cnf")}`,
      `--conf-dir=${dir}`,
    ];
    const started = async () => {
      for (
        let attempt = 0;
        attempt < 2000 && (!existsSync(pids) || readFileSync(pids, "utf8").split("\n").filter(Boolean).length < 2);
        attempt++
      )
        await Bun.sleep(5);
      return readFileSync(pids, "utf8").split("\n").filter(Boolean).map(Number);
    };
    return { args, started };
  }

  adversarial("--hook-timeout reaches a child the hook setsid'd", async () => {
    const { args, started } = hangingHook();
    const run = spawnBin([...args, "--hook-timeout=1", "/bin/true"], { env: runEnv() });
    const pids = await started();
    const result = await run.done;
    expectRun(result, { exitCode: 0, lines: 3 });
    expect(result.lines[1]).toContain("did not finish within 1s and was killed");
    for (const pid of pids) expect(alive(pid)).toBe(false);
  });

  adversarial("SIGTERM to entrypoint during a hook: exit 143 within 1 s, hook and its setsid'd child gone", async () => {
    const { args, started } = hangingHook();
    const run = spawnBin([...args, "/bin/true"], { env: runEnv() });
    const pids = await started();
    const signalled = Date.now();
    await run.kill("SIGTERM");
    const result = await run.done;
    expect(Date.now() - signalled).toBeLessThan(WITHIN_MS);
    expectRun(result, { exitCode: 143, lines: 3 });
    await Bun.sleep(50);
    for (const pid of pids) expect(alive(pid)).toBe(false);
  });
});
