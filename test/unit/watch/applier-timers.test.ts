import { afterEach, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createApplier, retryDelay, type Applier, type ApplierOptions } from "../../../src/watch/applier.ts";
import { makeExpiredCertificateDirectory } from "../../support/certs.ts";
import { applyLines, makeWatchTree, until } from "../../support/watch-tree.ts";

// docs/watch.md, "A broken renewal never takes a working certificate away" (until the kept
// pair expires: then its names fall back, at that second, with no event), the retry's wording,
// and a burst too large to track directory by directory. Real trees and postmap.

const running: { applier: Applier; cleanup: () => void }[] = [];
afterEach(async () => {
  for (const each of running.splice(0)) {
    await each.applier.stop();
    each.cleanup();
  }
});

function setUp(options: Partial<ApplierOptions> = {}, confDir = true) {
  const tree = makeWatchTree("mpi-applier-timers-", confDir);
  const applier = createApplier({ ...tree.options, quietMs: 50, maxDelayMs: 1_000, pairWaitMs: 10_000, ...options });
  running.push({ applier, cleanup: tree.temp.cleanup });
  return { ...tree, applier };
}

/** openssl ca's date format, to the second. */
const certDate = (ms: number) =>
  new Date(ms)
    .toISOString()
    .replace(/[-:T]/g, "")
    .replace(/\.\d+Z$/, "Z");

test("the retry's first wait is the first delay at attempt 0 or 1, and doubling stops at 2^30 times it", () => {
  expect(retryDelay(0, 10, Infinity)).toBe(10);
  expect(retryDelay(1, 10, Infinity)).toBe(10);
  expect(retryDelay(45, 1, Infinity)).toBe(2 ** 30);
});

test("a kept pair is applied away a second after it expires, without any change on disk", async () => {
  const { applier, log, sslDir } = setUp();
  const expires = Date.now() + 4_000;
  const dir = makeExpiredCertificateDirectory(sslDir, "soon.example.test", ["soon.example.test"], {
    start: certDate(Date.now() - 60_000),
    end: certDate(expires),
  }).dir;
  applier.applyNow();
  await until(() => applyLines(log.lines).length === 1);
  writeFileSync(join(dir, "key.pem"), "broken renewal\n");
  applier.applyNow();
  await until(() => applyLines(log.lines).length === 2);
  expect(applyLines(log.lines)[1]).toContain("last good pair kept for 1 source");
  await until(() => applyLines(log.lines).length === 3, 15_000);
  // The second after expiry, to the second openssl wrote (it truncates to whole seconds).
  expect(Date.now()).toBeGreaterThanOrEqual(Math.floor(expires / 1000) * 1000 + 1_000);
  expect(applyLines(log.lines)[2]).toContain("1 name changed (soon.example.test)");
  expect(applyLines(log.lines)[2]).not.toContain("last good pair kept");
}, 25_000);

test("the expiring certificates are reported at the first apply, not again by other applies within the report interval", async () => {
  const { applier, log, sslDir } = setUp({ expiryReportMs: 60_000 });
  makeExpiredCertificateDirectory(sslDir, "soon.example.test", ["soon.example.test"], {
    start: certDate(Date.now() - 60_000),
    end: certDate(Date.now() + 3 * 86_400_000),
  });
  for (let apply = 1; apply <= 3; apply++) {
    applier.applyNow();
    await until(() => applyLines(log.lines).length === apply);
  }
  expect(log.lines.filter((line) => line.includes("the certificate for soon.example.test expires on"))).toHaveLength(1);
});

test("more changed directories than it tracks in one burst: the changed pair is not waited for", async () => {
  const { applier, log, sslDir } = setUp();
  applier.applyNow();
  await until(() => applyLines(log.lines).length === 1);
  writeFileSync(join(sslDir, "a.example.test", "key.pem"), "half-written\n");
  // The changed pair is among the directories tracked; the burst then grows past what is tracked.
  applier.changed(join(sslDir, "a.example.test"));
  for (let index = 0; index < 1_000; index++) applier.changed(join(sslDir, `other-${index}`));
  await until(() => applyLines(log.lines).length === 2);
  expect(log.lines.some((line) => line.includes("do not load together yet"))).toBe(false);
  expect(applyLines(log.lines)[1]).toContain("last good pair kept for 1 source");
});

test("retries of a second or more are said in seconds; success after one failure says so in the singular; a plain success says nothing of failures", async () => {
  const { applier, log, confDir } = setUp({ retryFirstMs: 1_000, retryMaxMs: 1_000 }, false);
  applier.applyNow();
  await until(() => log.lines.some((line) => line.includes("apply failed after")));
  mkdirSync(confDir);
  writeFileSync(join(confDir, "main.cf"), "");
  expect(log.lines.find((line) => line.includes("apply failed after"))).toMatch(/trying again in 1 s \(failure 1\)$/);
  await until(() => applyLines(log.lines).length === 1);
  expect(log.lines.filter((line) => line.includes("succeeded after"))).toEqual([
    "mailcow-postfix-init: watch: apply succeeded after 1 failed attempt",
  ]);
  applier.applyNow();
  await until(() => applyLines(log.lines).length === 2);
  expect(log.lines.filter((line) => line.includes("succeeded after"))).toHaveLength(1);
});

test("stopped, it leaves no timer behind: a process holding only a stopped applier exits at once", async () => {
  // A failed apply (no conf dir) arms a 60 s retry, an event a 60 s settle; stop must clear both.
  const { sslDir, confDir, temp } = makeWatchTree("mpi-applier-stop-", false);
  const script = `
import { createApplier } from ${JSON.stringify(join(import.meta.dir, "../../../src/watch/applier.ts"))};
import { createMemoryLogger } from ${JSON.stringify(join(import.meta.dir, "../../../src/log.ts"))};
import { createPostfixTools } from ${JSON.stringify(join(import.meta.dir, "../../../src/postfix/index.ts"))};
const log = createMemoryLogger();
const applier = createApplier({ tools: createPostfixTools({ configDir: process.env.MAIL_CONFIG, env: process.env }), sslDir: ${JSON.stringify(sslDir)},
  confDir: ${JSON.stringify(confDir)}, log, lockTimeoutMs: 5000, quietMs: 60000, maxDelayMs: 120000, pairWaitMs: 60000,
  retryFirstMs: 60000, retryMaxMs: 60000, expiryReportMs: 60000, reload: async () => {} });
applier.applyNow();
while (!log.lines.some((line) => line.includes("apply failed after"))) await Bun.sleep(20);
applier.changed(${JSON.stringify(sslDir)});
await applier.stop();
applier.changed(${JSON.stringify(sslDir)});
console.log("stopped");`;
  const proc = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe", env: process.env });
  try {
    const reader = proc.stdout.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("stopped\n");
    const stoppedAt = Date.now();
    const exited = await Promise.race([proc.exited, Bun.sleep(10_000).then(() => "still running")]);
    expect({ exited, within: Date.now() - stoppedAt < 10_000 }).toEqual({ exited: 0, within: true });
  } finally {
    proc.kill("SIGKILL");
    await proc.exited;
    temp.cleanup();
  }
}, 20_000);
