import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UserError } from "../../../src/errors.ts";
import { createMemoryLogger } from "../../../src/log.ts";
import { interruptionFor, waitUntilReady, WaitInterrupted } from "../../../src/steps/wait.ts";
import { dbTools, optionFileValue, probeDatabase, withClientOptionFile } from "../../../src/steps/wait-db.ts";
import { probeDns } from "../../../src/steps/wait-dns.ts";
import { RCODE, startDnsmasq, startRcodeDns, startSilentDns, type TestDnsServer } from "../../support/dns.ts";
import { createTestDatabase, startMariadb, TEST_DB, type TestDatabase } from "../../support/mariadb.ts";
import { makeTempDir } from "../../support/tmp.ts";

const neverAborted = new AbortController().signal;

describe("waitUntilReady", () => {
  test("progress at least every 10 s with elapsed time and the last error, then ready", async () => {
    let clock = 0;
    let attempts = 0;
    const log = createMemoryLogger();
    await waitUntilReady({
      what: "database",
      log,
      signal: neverAborted,
      retryMs: 0,
      now: () => clock,
      probe: async () => {
        clock += 2_500;
        if (++attempts < 10) throw new Error(`refused #${attempts}`);
      },
    });
    expect(log.lines).toEqual([
      "mailcow-postfix-init: waiting for database: refused #1",
      "mailcow-postfix-init: still waiting for database (10.0s elapsed): refused #4",
      "mailcow-postfix-init: still waiting for database (20.0s elapsed): refused #8",
      "mailcow-postfix-init: database is ready after 25.0s",
    ]);
  });

  test("a timeout ends the wait with the last error", async () => {
    const started = Date.now();
    const wait = waitUntilReady({
      what: "DNS (x)", log: createMemoryLogger(), signal: neverAborted, retryMs: 50, timeoutMs: 300,
      probe: async () => {
        throw new Error("ETIMEOUT");
      },
    });
    expect(wait).rejects.toThrow(/^gave up waiting for DNS \(x\) after 0\.\ds \(timeout 0\.3s\); last error: ETIMEOUT$/);
    await wait.catch(() => {});
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  test("an injected clock does not turn the probe's real deadline off", async () => {
    let clock = 0;
    const started = Date.now();
    let abortedAfterMs: number | undefined;
    const wait = waitUntilReady({
      what: "database", log: createMemoryLogger(), signal: neverAborted, retryMs: 0, timeoutMs: 300, now: () => clock,
      // A probe blocked until its signal aborts (a connect() that never returns); the injected
      // clock stands still meanwhile, so only the real deadline can end it.
      probe: (signal) =>
        new Promise<void>((_, reject) => {
          const end = (message: string) => {
            clock = 10_000;
            reject(new Error(message));
          };
          // Without a deadline the probe would block forever: end it here, and fail below.
          const fallback = setTimeout(() => end("no deadline"), 3_000);
          signal.addEventListener("abort", () => {
            abortedAfterMs = Date.now() - started;
            clearTimeout(fallback);
            end("aborted");
          }, { once: true });
        }),
    });
    expect(wait).rejects.toThrow("gave up waiting for database after 10.0s (timeout 0.3s)");
    await wait.catch(() => {});
    expect(abortedAfterMs).toBeGreaterThanOrEqual(250);
    expect(abortedAfterMs).toBeLessThan(1_500);
  });

  test("SIGTERM / SIGINT end the wait at once with 143 / 130", async () => {
    for (const [name, code] of [["SIGTERM", 143], ["SIGINT", 130]] as const) {
      const controller = new AbortController();
      const started = Date.now();
      setTimeout(() => controller.abort(interruptionFor(name)), 100);
      const error = await waitUntilReady({
        what: "database", log: createMemoryLogger(), signal: controller.signal, retryMs: 60_000,
        probe: async () => {
          throw new Error("down");
        },
      }).catch((caught) => caught);
      expect(error).toBeInstanceOf(WaitInterrupted);
      expect(error.exitCode).toBe(code);
      expect(error.message).toBe(`interrupted by ${name} while waiting for database`);
      expect(Date.now() - started).toBeLessThan(1_000);
    }
  });
});

describe("DNS probe", () => {
  let dns: TestDnsServer;
  let silent: TestDnsServer;
  beforeAll(async () => {
    [dns, silent] = await Promise.all([startDnsmasq({ nxdomain: ["nonexistent.invalid"] }), startSilentDns()]);
  });
  afterAll(async () => {
    await Promise.all([dns?.stop(), silent?.stop()]);
  });

  test("a resolver that answers (also NXDOMAIN) is ready", async () => {
    await probeDns("mailcow.email", dns.address, neverAborted);
    await probeDns("nonexistent.invalid", dns.address, neverAborted);
  });

  test("a resolver that answers with an error (SERVFAIL, REFUSED, FORMERR, NOTIMP) is ready, as for `dig +short`", async () => {
    // dnsmasq refuses names it has no data for.
    await probeDns("other.example", dns.address, neverAborted);
    for (const [name, rcode] of Object.entries(RCODE)) {
      const server = await startRcodeDns(rcode);
      try {
        const log = createMemoryLogger();
        const started = Date.now();
        await waitUntilReady({
          what: "DNS (mailcow.email)", log, signal: neverAborted, retryMs: 100, timeoutMs: 5_000,
          probe: (signal) => probeDns("mailcow.email", server.address, signal),
        });
        expect({ name, lines: log.lines, queries: server.queries() }).toEqual({ name, lines: [], queries: 1 });
        expect(Date.now() - started).toBeLessThan(1_000);
      } finally {
        await server.stop();
      }
    }
  });

  test("a resolver that never answers keeps the wait going, with the progress line", async () => {
    let clock = 0;
    const log = createMemoryLogger();
    const wait = waitUntilReady({
      what: "DNS (mailcow.email)", log, signal: neverAborted, retryMs: 0, timeoutMs: 15_000, now: () => clock,
      probe: async (signal) => {
        clock += 5_000;
        await probeDns("mailcow.email", silent.address, signal);
      },
    });
    expect(wait).rejects.toThrow("gave up waiting for DNS (mailcow.email) after 15.0s");
    await wait.catch(() => {});
    const failure = `DNS query for mailcow.email via ${silent.address} failed: ETIMEOUT`;
    expect(log.lines).toEqual([
      `mailcow-postfix-init: waiting for DNS (mailcow.email): ${failure}`,
      `mailcow-postfix-init: still waiting for DNS (mailcow.email) (10.0s elapsed): ${failure}`,
    ]);
  }, 20_000);

  test("a resolver that never answers, with a timeout set: gives up at the timeout (within 1 s), with the reason", async () => {
    const started = Date.now();
    const wait = waitUntilReady({
      what: "DNS (mailcow.email)", log: createMemoryLogger(), signal: neverAborted, retryMs: 100, timeoutMs: 500,
      probe: (signal) => probeDns("mailcow.email", silent.address, signal),
    });
    expect(wait).rejects.toThrow("gave up waiting for DNS (mailcow.email) after 0.5s (timeout 0.5s); last error: no answer before the timeout");
    await wait.catch(() => {});
    expect(Date.now() - started).toBeLessThan(1_500);
  });
});

describe("database probe", () => {
  let db: TestDatabase;
  const temp = makeTempDir("mpi-waitdb-");
  beforeAll(async () => {
    db = await startMariadb();
    await createTestDatabase(db);
  });
  afterAll(async () => {
    await db?.stop();
    temp.cleanup();
  });

  test("the right credentials (an awkward password) connect", async () => {
    await withClientOptionFile(TEST_DB.user, TEST_DB.password, (file) => probeDatabase(file, db.socket, neverAborted));
  });

  test("a wrong password is an error naming the cause, not the password", async () => {
    const error = await withClientOptionFile(TEST_DB.user, "wrong-secret", (file) => probeDatabase(file, db.socket, neverAborted)).catch((caught) => caught);
    expect(error.message).toContain("Access denied for user");
    expect(error.message).not.toContain("wrong-secret");
  });

  test("a missing socket is an error", async () => {
    const error = await withClientOptionFile(TEST_DB.user, TEST_DB.password, (file) => probeDatabase(file, join(temp.path, "none.sock"), neverAborted)).catch((caught) => caught);
    expect(error.message).toContain("Can't connect");
  });

  test("the password is never in argv nor env nor on disk: the option file is a 0600 memfd on the child's fd 3", async () => {
    const recorder = join(temp.path, "fake-mariadb-admin");
    const record = join(temp.path, "record");
    writeFileSync(recorder, `#!/bin/sh\nfile="\${1#--defaults-extra-file=}"\n{ echo "$*"; stat -L -c %a "$file"; readlink "$file"; env | grep -c secret; cat "$file"; } > ${record}\n`);
    chmodSync(recorder, 0o755);
    const original = dbTools.mariadbAdmin;
    dbTools.mariadbAdmin = recorder;
    const before = readdirSync(tmpdir()).filter((name) => name.startsWith("mailcow-postfix-init-"));
    let optionFile = "";
    const savedEnv = process.env.DBPASS;
    process.env.DBPASS = "top\"secret";
    try {
      await withClientOptionFile("user", "top\"secret", async (file) => {
        optionFile = file;
        expect(readdirSync(tmpdir()).filter((name) => name.startsWith("mailcow-postfix-init-"))).toEqual(before);
        await probeDatabase(file, "/run/x.sock", neverAborted);
      });
    } finally {
      dbTools.mariadbAdmin = original;
      if (savedEnv === undefined) delete process.env.DBPASS;
      else process.env.DBPASS = savedEnv;
    }
    const [argv, fileMode, target, envHits, ...content] = readFileSync(record, "utf8").split("\n");
    expect(argv).not.toContain("secret");
    expect(argv).toStartWith("--defaults-extra-file=/dev/fd/3 ");
    expect(optionFile).toMatch(/^\/dev\/fd\/\d+$/);
    expect(fileMode).toBe("600");
    expect(target).toStartWith("/memfd:");
    expect(envHits).toBe("0");
    expect(content.join("\n")).toContain(`password=${optionFileValue('top"secret')}`);
  });

  test("option file values are quoted for MariaDB", () => {
    expect(optionFileValue(`a"b\\c#d`)).toBe(`"a\\"b\\\\c#d"`);
  });
});

test("UserError is what a timeout gives the CLI", async () => {
  const error = await waitUntilReady({
    what: "x", log: createMemoryLogger(), signal: neverAborted, retryMs: 1, timeoutMs: 1,
    probe: async () => {
      throw new Error("no");
    },
  }).catch((caught) => caught);
  expect(error).toBeInstanceOf(UserError);
  expect(error.exitCode).toBe(1);
});
