import { afterAll, beforeAll, expect, test } from "bun:test";
import { copyFileSync, cpSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeCertificate, makeCertificateDirectory, type MadeCertificate } from "../support/certs.ts";
import type { TestPostfix } from "../support/postfix-server.ts";
import { servedCertificate } from "../support/tls.ts";
import { makeTempDir } from "../support/tmp.ts";
import { processFootprint, startWatchedPostfix, type WatchedPostfix, type WatchProcess } from "../support/watch-process.ts";

// Bad input for `watch`: a FIFO where a certificate should be, a symlink loop, 20,000
// directories, a burst of 500 changes in a second, files that vanish between the event and the
// read. Each costs bounded time and memory and at most one log line per apply, and afterwards
// the watcher still applies a good certificate within 3 s.

const temp = makeTempDir("mpi-watch-bad-");
const sslDir = join(temp.path, "ssl");
let confDir: string;
let running: WatchedPostfix;
let postfix: TestPostfix;
let watcher: WatchProcess;
let probePairs: (MadeCertificate & { dir: string })[];
let probeRound = 0;

beforeAll(async () => {
  makeCertificate(sslDir, { names: ["mail.example.test"] });
  makeCertificateDirectory(sslDir, "probe.example.test", ["probe.example.test"]);
  probePairs = ["a", "b"].map((label) =>
    makeCertificateDirectory(join(temp.path, "staging", label), "probe.example.test", ["probe.example.test"]),
  );
  running = await startWatchedPostfix(temp.path, sslDir);
  ({ postfix, watcher, confDir } = running);
}, 60_000);

afterAll(async () => {
  await running?.stop();
  temp.cleanup();
});

/** The watcher is alive and applies a good renewal: served to a new connection within 3 s. */
async function stillApplies(): Promise<number> {
  expect(() => process.kill(watcher.pid, 0)).not.toThrow();
  const pair = probePairs[probeRound++ % 2]!;
  const mark = watcher.lines.length;
  copyFileSync(pair.certFile, join(sslDir, "probe.example.test", "cert.pem"));
  copyFileSync(pair.keyFile, join(sslDir, "probe.example.test", "key.pem"));
  const since = Date.now();
  for (;;) {
    const served = await servedCertificate(postfix.port, "probe.example.test").catch(() => undefined);
    if (served?.fingerprint === pair.fingerprint) {
      const took = Date.now() - since;
      await watcher.waitFor(/watch: applied in .*probe\.example\.test/, mark); // its line is read too
      return took;
    }
    if (Date.now() - since > 3_000) throw new Error(`the watcher no longer applies:\n${watcher.lines.slice(-8).join("\n")}`);
    await Bun.sleep(50);
  }
}

/** inotify watches the process holds, from /proc/PID/fdinfo (one `inotify wd:` line each). */
function inotifyWatches(pid: number): number {
  let count = 0;
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    const info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, "utf8");
    count += info.split("\n").filter((line) => line.startsWith("inotify wd:")).length;
  }
  return count;
}

/** Log lines that mention `text`, and apply lines, from `mark` up to the last apply line logged. */
function linesPerApply(mark: number, text: string): { mentions: number; applies: number } {
  const lines = watcher.lines.slice(mark);
  const isApply = (line: string) => /watch: (applied|checked) in/.test(line);
  const upToLastApply = lines.slice(0, lines.findLastIndex(isApply) + 1);
  return { mentions: upToLastApply.filter((line) => line.includes(text)).length, applies: upToLastApply.filter(isApply).length };
}

test("a FIFO as cert.pem: one error line, not repeated by later applies, no hang", async () => {
  const dir = join(sslDir, "fifo.example.test");
  mkdirSync(dir);
  writeFileSync(join(dir, "domains"), "fifo.example.test");
  writeFileSync(join(dir, "key.pem"), "");
  const mark = watcher.lines.length;
  try {
    expect(Bun.spawnSync(["mkfifo", join(dir, "cert.pem")]).exitCode).toBe(0);
    await watcher.waitFor(/fifo\.example\.test.*(not a regular file|FIFO|fifo)/i, mark, 10_000);
    expect(await stillApplies()).toBeLessThan(3_000);
    // Logged when it appeared; the applies after it do not repeat it.
    const { mentions, applies } = linesPerApply(mark, join(dir, "cert.pem"));
    expect(applies).toBeGreaterThanOrEqual(2);
    expect(mentions).toBe(1);
  } finally {
    rmSync(dir, { recursive: true });
  }
}, 30_000);

test("a symlink loop: one warning while it exists, whatever the number of applies", async () => {
  const mark = watcher.lines.length;
  symlinkSync("loop-b", join(sslDir, "loop-a"));
  symlinkSync("loop-a", join(sslDir, "loop-b"));
  await watcher.waitFor(/loop-a is a symbolic link loop/, mark);
  await stillApplies();
  await stillApplies();
  expect(linesPerApply(mark, "loop-a is a symbolic link loop").mentions).toBe(1);
  expect(linesPerApply(mark, "loop-b is a symbolic link loop").mentions).toBe(1);
  rmSync(join(sslDir, "loop-a"));
  rmSync(join(sslDir, "loop-b"));
}, 30_000);

test("a burst of 500 changes in one second is applied a few times, ending on the last pair", async () => {
  const mark = watcher.lines.length;
  const dir = join(sslDir, "probe.example.test");
  const started = Date.now();
  for (let index = 0; index < 500; index++) {
    const pair = probePairs[index % 2]!;
    copyFileSync(index % 2 === 0 ? pair.certFile : pair.keyFile, join(dir, index % 4 < 2 ? "cert.pem" : "key.pem"));
    if (index % 25 === 0) await Bun.sleep(40);
  }
  copyFileSync(probePairs[1]!.certFile, join(dir, "cert.pem"));
  copyFileSync(probePairs[1]!.keyFile, join(dir, "key.pem"));
  const burstMs = Date.now() - started;
  probeRound = 0; // the burst ended on pair 1: the next renewal is pair 0
  const lastWrite = Date.now();
  for (;;) {
    const served = await servedCertificate(postfix.port, "probe.example.test").catch(() => undefined);
    if (served?.fingerprint === probePairs[1]!.fingerprint) break;
    if (Date.now() - lastWrite > 3_000) throw new Error(`last pair of the burst not served:\n${watcher.lines.slice(mark).join("\n")}`);
    await Bun.sleep(50);
  }
  await Bun.sleep(1_000);
  const { applies } = linesPerApply(mark, "");
  console.log(
    `burst of 500 writes in ${burstMs} ms: ${applies} applies; served the last pair ${Date.now() - lastWrite - 1_000} ms after the last write`,
  );
  expect(burstMs).toBeLessThan(1_500);
  expect(applies).toBeGreaterThanOrEqual(1);
  expect(applies).toBeLessThanOrEqual(4);
}, 30_000);

test("directories that vanish between the event and the read leave no failure behind", async () => {
  const mark = watcher.lines.length;
  for (let index = 0; index < 60; index++) {
    const dir = join(sslDir, `gone-${index}.example.test`);
    cpSync(probePairs[0]!.dir, dir, { recursive: true });
    writeFileSync(join(dir, "domains"), `gone-${index}.example.test`);
    await Bun.sleep(index % 7);
    rmSync(dir, { recursive: true });
  }
  await stillApplies();
  const lines = watcher.lines.slice(mark);
  expect(lines.filter((line) => /apply failed|internal error/.test(line))).toEqual([]);
  // No gone-N directory left in the map: every name was dropped once its directory went.
  const map = Bun.file(join(confDir, "sni.map"));
  expect(await map.text()).not.toContain("gone-");
}, 30_000);

test("20,000 certificate directories: watched within bounded time and memory, then applied as usual", async () => {
  const before = processFootprint(watcher.pid);
  const mark = watcher.lines.length;
  const started = Date.now();
  for (let index = 0; index < 20_000; index++) {
    const dir = join(sslDir, `d${index}.example.test`);
    mkdirSync(dir);
    writeFileSync(join(dir, "domains"), `d${index}.example.test`);
  }
  const created = Date.now() - started;
  const line = await watcher.waitFor(/watch: (applied|checked) in/, mark, 60_000);
  // Directories created during an apply are picked up by the next one.
  await Bun.sleep(2_500);
  const lastApply = watcher.lines
    .slice(mark)
    .filter((entry) => /watch: (applied|checked) in/.test(entry))
    .at(-1)!;
  const after = processFootprint(watcher.pid);
  const took = await stillApplies();
  const ms = (text: string) => Number(text.match(/in (\d+) ms/)?.[1]);
  console.log(
    `20,000 dirs: created in ${created} ms; first apply ${ms(line)} ms, last ${ms(lastApply)} ms; RSS ${before.rssKb} -> ${after.rssKb} kB, fds ${before.fds} -> ${after.fds}; then a renewal served in ${took} ms`,
  );
  expect(after.fds).toBeLessThanOrEqual(before.fds + 2); // one inotify descriptor for every watch
  expect(after.rssKb - before.rssKb).toBeLessThan(200 * 1024);
  expect(ms(lastApply)).toBeLessThan(5_000);
  expect(watcher.lines.slice(mark).length).toBeLessThan(20);
  // Every directory has its inotify watch: the SSL dir's own and one per directory in it.
  const directories = readdirSync(sslDir, { withFileTypes: true }).filter((entry) => entry.isDirectory()).length;
  expect(directories).toBeGreaterThanOrEqual(20_001);
  expect(inotifyWatches(watcher.pid)).toBe(directories + 1);
}, 120_000);
