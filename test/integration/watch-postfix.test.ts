import { afterAll, beforeAll, expect, test } from "bun:test";
import { copyFileSync, cpSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeCertificate, makeCertificateDirectory, type MadeCertificate } from "../support/certs.ts";
import type { TestPostfix } from "../support/postfix-server.ts";
import { probeStartTls, SmtpSession, type ProbeResult } from "../support/smtp-client.ts";
import { servedCertificate } from "../support/tls.ts";
import { makeTempDir } from "../support/tmp.ts";
import { startWatchedPostfix, type WatchedPostfix, type WatchProcess } from "../support/watch-process.ts";

// `watch` beside a real Postfix on loopback: certificates written by an outside writer (no
// command run) are served by new connections within 3 s; sessions open across an apply
// complete; clients connecting all the time during many applies are never refused and never
// fail a handshake; a broken renewal keeps the last good pair. Applies in the graceful test:
// MPI_WATCH_TEST_APPLIES (default 20; bench/watch.ts runs 200).

const APPLIES = Number(process.env.MPI_WATCH_TEST_APPLIES ?? 20);
const SERVED_WITHIN_MS = 3_000;

const temp = makeTempDir("mpi-watch-");
const sslDir = join(temp.path, "ssl");
let postfix: TestPostfix;
let watcher: WatchProcess;
let fallback: MadeCertificate;
let running: WatchedPostfix;

beforeAll(async () => {
  makeCertificate(sslDir, { names: ["mail.example.test"] });
  makeCertificateDirectory(sslDir, "a.example.test", ["a.example.test"]);
  // A session that reaches DATA needs cleanup and trivial-rewrite; without qmgr the message stays queued.
  running = await startWatchedPostfix(temp.path, sslDir, ["cleanup unix n - n - 0 cleanup", "rewrite unix - - n - - trivial-rewrite"]);
  ({ postfix, watcher, fallback } = running);
}, 60_000);

afterAll(async () => {
  await running?.stop();
  temp.cleanup();
});

/** A new pair for `names`, made outside the SSL dir (the writer's staging area). */
function stagedPair(label: string, names: string[]): MadeCertificate & { dir: string } {
  return makeCertificateDirectory(join(temp.path, "staging", label), names[0]!, names);
}

/** Poll with new s_client connections until `name` is served `fingerprint`; the time it took from `since`. */
async function servedAfter(name: string, fingerprint: string, since: number, limitMs = 10_000): Promise<number> {
  for (;;) {
    let failure = "";
    const served = await servedCertificate(postfix.port, name).catch((error: Error) => {
      failure = error.message;
    });
    if (served?.fingerprint === fingerprint) return Date.now() - since;
    if (Date.now() - since > limitMs) {
      throw new Error(
        `${name}: still not served the new certificate after ${limitMs} ms (got ${served?.subject ?? failure})\n${watcher.lines.slice(-10).join("\n")}\n${postfix.log().split("\n").slice(-15).join("\n")}`,
      );
    }
    await Bun.sleep(50);
  }
}

test("a certificate copied over in place (cert.pem, then key.pem) is served to new connections within 3 s, no command run", async () => {
  const renewed = stagedPair("in-place", ["a.example.test"]);
  writeFileSync(join(sslDir, "a.example.test", "cert.pem"), readFileSync(renewed.certFile));
  await Bun.sleep(20); // a copying script's pause between the two files
  writeFileSync(join(sslDir, "a.example.test", "key.pem"), readFileSync(renewed.keyFile));
  const lastWrite = Date.now();
  const took = await servedAfter("a.example.test", renewed.fingerprint, lastWrite);
  console.log(`in place: served after ${took} ms`);
  expect(took).toBeLessThan(SERVED_WITHIN_MS);
});

test("a directory swapped by mv, a new directory and a removed one are applied within 3 s each", async () => {
  const swapped = stagedPair("swap", ["a.example.test"]);
  cpSync(swapped.dir, join(sslDir, ".a.new"), { recursive: true });
  renameSync(join(sslDir, "a.example.test"), join(sslDir, ".a.old"));
  renameSync(join(sslDir, ".a.new"), join(sslDir, "a.example.test"));
  rmSync(join(sslDir, ".a.old"), { recursive: true });
  let took = await servedAfter("a.example.test", swapped.fingerprint, Date.now());
  console.log(`mv swap: served after ${took} ms`);
  expect(took).toBeLessThan(SERVED_WITHIN_MS);

  const added = stagedPair("added", ["new.example.test"]);
  cpSync(added.dir, join(sslDir, "new.example.test"), { recursive: true });
  took = await servedAfter("new.example.test", added.fingerprint, Date.now());
  console.log(`new directory: served after ${took} ms`);
  expect(took).toBeLessThan(SERVED_WITHIN_MS);

  rmSync(join(sslDir, "new.example.test"), { recursive: true });
  took = await servedAfter("new.example.test", fallback.fingerprint, Date.now());
  console.log(`removed directory: default chain after ${took} ms`);
  expect(took).toBeLessThan(SERVED_WITHIN_MS);
}, 30_000);

test("an SMTP session opened before an apply (EHLO, STARTTLS, MAIL, RCPT, half of DATA) completes with 250 after it", async () => {
  const before = (await servedCertificate(postfix.port, "a.example.test")).fingerprint;
  const { session, banner } = await SmtpSession.open(postfix.port, 20_000);
  expect(banner.code).toBe(220);
  expect((await session.command("EHLO client.test")).code).toBe(250);
  const certificate = await session.startTls("a.example.test");
  expect(certificate.fingerprint256).toBe(before);
  expect((await session.command("EHLO client.test")).code).toBe(250);
  expect((await session.command("MAIL FROM:<sender@client.test>")).code).toBe(250);
  expect((await session.command("RCPT TO:<someone@example.net>")).code).toBe(250);
  expect((await session.command("DATA")).code).toBe(354);
  session.write("Subject: across an apply\r\n\r\nfirst half\r\n");

  const mark = watcher.lines.length;
  const renewed = stagedPair("during-session", ["a.example.test"]);
  copyFileSync(renewed.certFile, join(sslDir, "a.example.test", "cert.pem"));
  copyFileSync(renewed.keyFile, join(sslDir, "a.example.test", "key.pem"));
  await watcher.waitFor(/watch: applied in .*postfix reloaded/, mark);
  // The apply has taken effect for new connections while the session is still open.
  await servedAfter("a.example.test", renewed.fingerprint, Date.now());

  session.write("second half\r\n.\r\n");
  const queued = await session.reply();
  expect(queued.code).toBe(250);
  expect((await session.command("QUIT")).code).toBe(221);
  session.close();
}, 30_000);

test(`during ${APPLIES} applies in a row, a client connecting every 100 ms is never refused and never fails a handshake`, async () => {
  const pairs = [stagedPair("graceful-a", ["g.example.test"]), stagedPair("graceful-b", ["g.example.test"])];
  // Wait for the watcher's own line too, not only for the certificate served: smtpd serves the
  // new table as soon as it is renamed in place, before `postfix reload` returns and the line is
  // logged. A line still on its way would satisfy the first apply's wait below, the loop would
  // copy the next pair over the one not yet applied, and wait for an apply of a net change of
  // nothing (the files end as they were: "sni.map.db unchanged").
  const before = watcher.lines.length;
  cpSync(pairs[0]!.dir, join(sslDir, "g.example.test"), { recursive: true });
  await watcher.waitFor(/watch: applied in .*g\.example\.test/, before);
  await servedAfter("g.example.test", pairs[0]!.fingerprint, Date.now());
  const tally: Record<ProbeResult, number> = { ok: 0, refused: 0, "handshake-failed": 0, "other-failure": 0 };
  const details: string[] = [];
  const probes: Promise<void>[] = [];
  const served = new Set<string>();
  const timer = setInterval(() => {
    probes.push(
      probeStartTls(postfix.port, "g.example.test").then((probe) => {
        tally[probe.result]++;
        if (probe.fingerprint) served.add(probe.fingerprint);
        if (probe.detail) details.push(`${probe.result}: ${probe.detail}`);
      }),
    );
  }, 100);
  const started = Date.now();
  let applied = 0;
  try {
    for (let index = 1; index <= APPLIES; index++) {
      const pair = pairs[index % 2]!;
      const mark = watcher.lines.length;
      copyFileSync(pair.certFile, join(sslDir, "g.example.test", "cert.pem"));
      copyFileSync(pair.keyFile, join(sslDir, "g.example.test", "key.pem"));
      await watcher.waitFor(/watch: applied in .*g\.example\.test.*postfix reloaded/, mark);
      applied++;
    }
  } finally {
    clearInterval(timer);
  }
  await Promise.all(probes);
  const seconds = (Date.now() - started) / 1000;
  console.log(`graceful: ${applied} applies in ${seconds.toFixed(1)} s, probes ${JSON.stringify(tally)}`);
  if (details.length > 0)
    console.log(
      postfix
        .log()
        .split("\n")
        .filter((line) => /warning|error|fatal|abort/.test(line))
        .slice(0, 20)
        .join("\n"),
    );
  expect(applied).toBe(APPLIES);
  expect(details).toEqual([]);
  expect(tally.refused).toBe(0);
  expect(tally["handshake-failed"]).toBe(0);
  expect(tally.ok).toBeGreaterThanOrEqual(Math.floor(seconds * 10 * 0.8));
  // Both pairs were really served along the way.
  expect(served).toEqual(new Set(pairs.map((pair) => pair.fingerprint)));
}, 120_000);

test("a broken renewal keeps the last good pair served; the next good one is applied", async () => {
  const good = (await servedCertificate(postfix.port, "a.example.test")).fingerprint;
  const mark = watcher.lines.length;
  const stranger = makeCertificate(join(temp.path, "stranger"), { names: ["stranger.test"] });
  copyFileSync(stranger.keyFile, join(sslDir, "a.example.test", "key.pem")); // a key from elsewhere
  const kept = await watcher.waitFor(/the last pair that loaded stays mapped for a\.example\.test/, mark, 10_000);
  expect(kept).toContain("private key");
  await watcher.waitFor(/watch: checked in .*last good pair kept for 1 source/, mark);
  expect((await servedCertificate(postfix.port, "a.example.test")).fingerprint).toBe(good);
  expect(postfix.log()).not.toContain("SNI data for a.example.test: aborting");

  const fixed = stagedPair("fixed", ["a.example.test"]);
  copyFileSync(fixed.certFile, join(sslDir, "a.example.test", "cert.pem"));
  copyFileSync(fixed.keyFile, join(sslDir, "a.example.test", "key.pem"));
  expect(await servedAfter("a.example.test", fixed.fingerprint, Date.now())).toBeLessThan(SERVED_WITHIN_MS);
}, 30_000);

test("the watcher logged no failure and is still running", () => {
  expect(watcher.lines.filter((line) => /watch: apply failed|internal error/.test(line))).toEqual([]);
  expect(() => process.kill(watcher.pid, 0)).not.toThrow();
});
