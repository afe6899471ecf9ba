import { afterAll, beforeAll, expect, test } from "bun:test";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeCertificate, makeCertificateDirectory, type MadeCertificate } from "../support/certs.ts";
import { servedCertificate } from "../support/tls.ts";
import { makeTempDir } from "../support/tmp.ts";
import { startWatchedPostfix, type WatchedPostfix } from "../support/watch-process.ts";

// docs/watch.md's promises, seen from Postfix's side: `postfix reload` runs only when the
// table changed (reloads counted in Postfix's own log, not in the watcher's words), and a
// broken renewal keeps its last good pair even for a name the default certificate also carries.

const SHARED = "shared.example.test";
const temp = makeTempDir("mpi-watch-reloads-");
const sslDir = join(temp.path, "ssl");
let running: WatchedPostfix;
let defaultPair: MadeCertificate;
let shared: MadeCertificate & { dir: string };

beforeAll(async () => {
  defaultPair = makeCertificate(sslDir, { names: ["mail.example.test", SHARED] });
  shared = makeCertificateDirectory(sslDir, SHARED, [SHARED]);
  makeCertificateDirectory(sslDir, "a.example.test", ["a.example.test"]);
  running = await startWatchedPostfix(temp.path, sslDir);
}, 60_000);

afterAll(async () => {
  await running?.stop();
  temp.cleanup();
});

/** master's "reload" lines in Postfix's log: one per `postfix reload` that reached it. */
const reloads = () =>
  running.postfix
    .log()
    .split("\n")
    .filter((line) => /postfix\/master\[\d+\]: reload /.test(line)).length;

async function reloadsSettled(atLeast: number): Promise<number> {
  for (let waited = 0; reloads() < atLeast && waited < 5_000; waited += 50) await Bun.sleep(50);
  await Bun.sleep(500); // a reload that should not happen has time to show up
  return reloads();
}

test("postfix reload only when the table changed: a touched file or the same pair copied again reloads nothing", async () => {
  const before = await reloadsSettled(0);
  const { watcher } = running;
  let mark = watcher.lines.length;
  writeFileSync(join(sslDir, "dhparams.pem"), "not a map input\n");
  const aDir = join(sslDir, "a.example.test");
  writeFileSync(join(aDir, "cert.pem"), readFileSync(join(aDir, "cert.pem"))); // the same bytes again
  await watcher.waitFor(/watch: checked in .*unchanged/, mark);
  expect(await reloadsSettled(before)).toBe(before);

  mark = watcher.lines.length;
  const renewed = makeCertificateDirectory(join(temp.path, "staged"), "a.example.test", ["a.example.test"]);
  copyFileSync(renewed.certFile, join(aDir, "cert.pem"));
  copyFileSync(renewed.keyFile, join(aDir, "key.pem"));
  await watcher.waitFor(/watch: applied in .*a\.example\.test/, mark);
  expect(await reloadsSettled(before + 1)).toBe(before + 1);
  expect((await servedCertificate(running.postfix.port, "a.example.test")).fingerprint).toBe(renewed.fingerprint);
}, 30_000);

test("a broken renewal's last good pair beats the default certificate for a name both carry", async () => {
  const { watcher, postfix } = running;
  expect((await servedCertificate(postfix.port, SHARED)).fingerprint).toBe(shared.fingerprint);
  const mark = watcher.lines.length;
  const stranger = makeCertificate(join(temp.path, "stranger"), { names: ["stranger.test"] });
  copyFileSync(stranger.keyFile, shared.keyFile); // a key from another run
  await watcher.waitFor(new RegExp(`the last pair that loaded stays mapped for ${SHARED.replaceAll(".", "\\.")}`), mark);
  await watcher.waitFor(/watch: (checked|applied) in/, mark);
  const served = (await servedCertificate(postfix.port, SHARED)).fingerprint;
  expect(served === defaultPair.fingerprint ? "the default certificate" : served).toBe(shared.fingerprint);
}, 30_000);
