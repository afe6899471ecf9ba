import { afterEach, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createApplier, type Applier, type ApplierOptions } from "../../../src/watch/applier.ts";
import { makeCertificate } from "../../support/certs.ts";
import { writeSettledFile } from "../../support/tmp.ts";
import { applyLines, makeWatchTree, until } from "../../support/watch-tree.ts";

// docs/watch.md, "What it does" and "A renewal caught half-written": a burst of events is
// applied once it settles; a changed pair that does not load yet is waited for; a failed apply
// is retried with a backoff; SIGHUP (applyNow) applies at once; stop lets the apply under way
// finish and leaves no timer. Real trees and postmap, the applier driven directly (the
// inotify side is tree.test.ts), short delays chosen by the test.

const running: { applier: Applier; cleanup: () => void }[] = [];
afterEach(async () => {
  for (const each of running.splice(0)) {
    await each.applier.stop();
    each.cleanup();
  }
});

function setUp(options: Partial<ApplierOptions> = {}, confDir = true) {
  const tree = makeWatchTree("mpi-applier-flow-", confDir);
  const reloads = tree.reloads;
  const applier = createApplier({
    ...tree.options,
    quietMs: 100,
    maxDelayMs: 2_000,
    pairWaitMs: 1_500,
    retryFirstMs: 100,
    retryMaxMs: 200,
    ...options,
  });
  running.push({ applier, cleanup: tree.temp.cleanup });
  return { ...tree, reloads, applier };
}

const applies = applyLines;

async function idle(applier: Applier): Promise<void> {
  await until(() => !applier.busy);
}

test("a burst of changes is applied once, after it settles", async () => {
  const { applier, log, sslDir } = setUp();
  applier.applyNow();
  await until(() => applies(log.lines).length === 1);
  await idle(applier);
  for (let index = 0; index < 10; index++) applier.changed(join(sslDir, "a.example.test"));
  expect(applier.busy).toBe(true);
  await idle(applier);
  await Bun.sleep(300);
  expect(applies(log.lines)).toHaveLength(2);
});

test("a changed pair that does not load yet is waited for, and applied at once when completed", async () => {
  const { applier, log, sslDir, reloads, temp } = setUp();
  applier.applyNow();
  await until(() => applies(log.lines).length === 1);
  const dir = join(sslDir, "a.example.test");
  const renewed = makeCertificate(join(temp.path, "renewal"), { names: ["a.example.test"] });
  copyFileSync(renewed.certFile, join(dir, "cert.pem")); // the key follows
  applier.changed(dir);
  await until(() => log.lines.some((line) => line.includes("key and certificate do not load together yet")));
  expect(log.lines.at(-1)).toBe(
    `mailcow-postfix-init: watch: ${dir}: key and certificate do not load together yet; waiting up to 1500 ms for the rest of the renewal`,
  );
  expect(applies(log.lines)).toHaveLength(1);
  // Another event while it waits: still one line, the same deadline.
  applier.changed(dir);
  await Bun.sleep(300);
  expect(log.lines.filter((line) => line.includes("do not load together yet"))).toHaveLength(1);
  expect(applies(log.lines)).toHaveLength(1);
  copyFileSync(renewed.keyFile, join(dir, "key.pem"));
  applier.changed(dir);
  await until(() => applies(log.lines).length === 2);
  expect(applies(log.lines)[1]).toContain("1 name changed (a.example.test)");
  expect(applies(log.lines)[1]).not.toContain("last good pair kept");
  expect(reloads).toHaveLength(1);
});

test("a pair still broken at the end of the wait is applied with its last good pair kept", async () => {
  const { applier, log, sslDir } = setUp({ pairWaitMs: 400 });
  applier.applyNow();
  await until(() => applies(log.lines).length === 1);
  const dir = join(sslDir, "a.example.test");
  writeFileSync(join(dir, "key.pem"), "half-written\n");
  const changedAt = Date.now();
  applier.changed(dir);
  await until(() => applies(log.lines).length === 2);
  expect(Date.now() - changedAt).toBeGreaterThanOrEqual(400);
  expect(applies(log.lines)[1]).toContain("last good pair kept for 1 source");
});

test("SIGHUP applies at once, without the settle delay or the pair wait", async () => {
  const { applier, log, sslDir } = setUp({ quietMs: 8_000, maxDelayMs: 15_000, pairWaitMs: 15_000 });
  applier.applyNow();
  await until(() => applies(log.lines).length === 1);
  writeFileSync(join(sslDir, "a.example.test", "key.pem"), "half-written\n");
  applier.changed(join(sslDir, "a.example.test"));
  const asked = Date.now();
  applier.applyNow();
  await until(() => applies(log.lines).length === 2, 6_000);
  expect(Date.now() - asked).toBeLessThan(6_000);
  expect(log.lines.some((line) => line.includes("do not load together yet"))).toBe(false);
  // The burst it replaced is not applied again after its settle time.
  await until(() => !applier.busy, 3_000);
});

test("SIGHUP during an apply: one more apply right after it, not after the settle time", async () => {
  const { applier, log } = setUp({ quietMs: 8_000, maxDelayMs: 15_000 });
  applier.applyNow();
  expect(applier.busy).toBe(true);
  applier.applyNow();
  const asked = Date.now();
  await until(() => applies(log.lines).length === 2, 6_000);
  expect(Date.now() - asked).toBeLessThan(6_000);
  await idle(applier);
  expect(applies(log.lines)).toHaveLength(2);
});

test("a change during an apply settles like any other before the apply after it", async () => {
  const { applier, log, sslDir } = setUp({ quietMs: 1_500, maxDelayMs: 10_000 });
  applier.applyNow();
  applier.changed(join(sslDir, "a.example.test"));
  await until(() => applies(log.lines).length === 1);
  const first = Date.now();
  await until(() => applies(log.lines).length === 2);
  expect(Date.now() - first).toBeGreaterThanOrEqual(1_000);
});

test("a failed apply is retried with a backoff until it succeeds, no new change needed", async () => {
  const { applier, log, confDir } = setUp({}, false);
  applier.applyNow();
  await until(() => log.lines.some((line) => line.endsWith("(failure 4)")));
  const failures = log.lines.filter((line) => line.includes("apply failed after"));
  expect(failures[0]).toMatch(/sni\.map\.db left as it was, trying again in 100 ms \(failure 1\)$/);
  expect(failures[1]).toMatch(/trying again in 200 ms \(failure 2\)$/);
  // The same reason again: said at failures 1, 2, 4, 8, ... only.
  expect(failures[2]).toMatch(/trying again in 200 ms \(failure 4\)$/);
  expect(Number(failures[0]!.match(/apply failed after (\d+) ms/)?.[1])).toBeLessThan(10_000);
  // SIGHUP: the retries start over.
  applier.applyNow();
  await until(() => log.lines.filter((line) => line.endsWith("trying again in 200 ms (failure 2)")).length === 2);
  mkdirSync(confDir);
  writeSettledFile(join(confDir, "main.cf"), "");
  await until(() => applies(log.lines).length === 1);
  const after = log.lines.find((line) => line.includes("watch: apply succeeded after"));
  // Two failures at least since the SIGHUP: the plural.
  expect(after).toMatch(/^mailcow-postfix-init: watch: apply succeeded after \d+ failed attempts$/);
  // Succeeded: no retry follows.
  await Bun.sleep(500);
  expect(applies(log.lines)).toHaveLength(1);
});

test("a change during an apply is applied once more after it; stop lets the apply finish and nothing runs after", async () => {
  const { applier, log, sslDir } = setUp();
  applier.applyNow();
  applier.changed(join(sslDir, "a.example.test"));
  applier.changed(join(sslDir, "a.example.test"));
  await until(() => applies(log.lines).length === 2);
  await idle(applier);
  applier.applyNow();
  await applier.stop();
  expect(applies(log.lines)).toHaveLength(3);
  expect(applier.busy).toBe(false);
  applier.changed(join(sslDir, "a.example.test"));
  applier.applyNow();
  await Bun.sleep(300);
  expect(applies(log.lines)).toHaveLength(3);
});
