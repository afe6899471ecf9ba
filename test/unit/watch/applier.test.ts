import { expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createMemoryLogger } from "../../../src/log.ts";
import { createApplier, failureLogged, retryDelay } from "../../../src/watch/applier.ts";
import { makeCertificate, makeCertificateDirectory } from "../../support/certs.ts";
import { testTools } from "../../support/postfix-tools.ts";
import { makeTempDir } from "../../support/tmp.ts";

test("retries wait 1 s, doubling to 60 s; a steady failure is logged ever more rarely, a new reason at once", () => {
  expect([1, 2, 3, 4, 5, 6, 7, 8, 100].map((attempt) => retryDelay(attempt))).toEqual([
    1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000,
  ]);
  expect([1, 2, 3, 4, 5, 6, 7, 8, 9, 16].filter((attempt) => failureLogged(attempt, false))).toEqual([1, 2, 4, 8, 16]);
  expect(failureLogged(7, true)).toBe(true);
});

test("the expiring certificates are logged after the first apply and again at each report interval, without any change", async () => {
  const temp = makeTempDir("mpi-applier-");
  const sslDir = join(temp.path, "ssl");
  const confDir = join(temp.path, "conf");
  mkdirSync(confDir);
  writeFileSync(join(confDir, "main.cf"), "");
  makeCertificate(sslDir, { names: ["mail.example.test"] });
  makeCertificateDirectory(sslDir, "soon.example.test", ["soon.example.test"], { days: 5 });
  makeCertificateDirectory(sslDir, "later.example.test", ["later.example.test"], { days: 60 });
  const log = createMemoryLogger();
  const applier = createApplier({
    tools: testTools(),
    sslDir,
    confDir,
    log,
    lockTimeoutMs: 5_000,
    quietMs: 50,
    maxDelayMs: 500,
    pairWaitMs: 500,
    expiryReportMs: 700,
    reload: async () => {},
  });
  try {
    applier.applyNow();
    const started = Date.now();
    while (log.lines.filter((line) => line.includes("expires on")).length < 3 && Date.now() - started < 10_000) await Bun.sleep(50);
    const reports = log.lines.filter((line) => line.includes("expires on"));
    expect(reports).toHaveLength(3);
    for (const line of reports)
      expect(line).toContain(
        `watch: the certificate for soon.example.test expires on ${new Date(Date.now() + 5 * 86_400_000).toISOString().slice(0, 10)} (in 4 days): ${join(sslDir, "soon.example.test")}`,
      );
    // Each report came with a check of the tree, not a rebuild.
    expect(log.lines.filter((line) => /watch: checked in .*unchanged/.test(line)).length).toBeGreaterThanOrEqual(2);
  } finally {
    await applier.stop();
    temp.cleanup();
  }
});
