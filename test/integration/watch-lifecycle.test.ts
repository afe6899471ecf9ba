import { afterAll, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { makeCertificate, makeCertificateDirectory } from "../support/certs.ts";
import { startTestPostfix, writePostfixConfig } from "../support/postfix-server.ts";
import { servedCertificate } from "../support/tls.ts";
import { makeTempDir } from "../support/tmp.ts";
import { startWatchProcess } from "../support/watch-process.ts";

// The watcher's life beside Postfix: started before Postfix is up (as supervisord may start it),
// idle without a single wake-up, opted out with MPI_WATCH=n, stopped by SIGTERM.

const temp = makeTempDir("mpi-watch-life-");
afterAll(() => temp.cleanup());

/** Context switches of PID's threads: the main thread (the event loop) and all of them together. */
function contextSwitches(pid: number): { main: number; all: number } {
  const counts = { main: 0, all: 0 };
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    const status = readFileSync(`/proc/${pid}/task/${task}/status`, "utf8");
    const switches =
      Number(status.match(/^voluntary_ctxt_switches:\s+(\d+)/m)![1]) + Number(status.match(/^nonvoluntary_ctxt_switches:\s+(\d+)/m)![1]);
    counts.all += switches;
    if (task === String(pid)) counts.main = switches;
  }
  return counts;
}

test("started before Postfix, idle without wake-ups, applies once Postfix runs, says so when Postfix has stopped, stops on SIGTERM", async () => {
  const sslDir = join(temp.path, "ssl");
  const confDir = join(temp.path, "conf");
  makeCertificate(sslDir, { names: ["mail.example.test"] });
  makeCertificateDirectory(sslDir, "a.example.test", ["a.example.test"]);
  // Broken before the watcher starts: the container's start has logged it; the watcher counts it.
  const broken = makeCertificateDirectory(sslDir, "broken.example.test", ["broken.example.test"]);
  copyFileSync(makeCertificate(join(temp.path, "stray"), { names: ["stray.test"] }).keyFile, broken.keyFile);
  mkdirSync(confDir);
  const fallback = makeCertificate(join(temp.path, "fallback"), { names: ["fallback.invalid"] });
  const options = { root: temp.path, confDir, defaultKey: fallback.keyFile, defaultCert: fallback.certFile };
  writePostfixConfig(options, 1);
  const watcher = startWatchProcess(["--ssl-dir", sslDir, "--conf-dir", confDir, "--hostname", "mail.example.test"]);
  try {
    await watcher.waitFor(/watch: applied in .*postfix not reloaded \(first build: .*\); 1 problem in the tree, not repeated here/, 0);
    expect(watcher.lines.filter((line) => line.includes("broken.example.test"))).toEqual([]);

    // Idle: inotify (one descriptor, a watch per directory), no thread wakes up.
    const fds = readdirSync(`/proc/${watcher.pid}/fd`).map((fd) => {
      try {
        return readlinkSync(`/proc/${watcher.pid}/fd/${fd}`);
      } catch {
        return "";
      }
    });
    expect(fds.filter((target) => target === "anon_inode:inotify")).toHaveLength(1);
    // The runtime's own threads finish their work from the apply within ~10 s (JIT, GC
    // helpers, which then exit). After that the event loop sleeps in the kernel until inotify
    // reports something: no timer, no poll. Only the allocator's scavenger thread wakes, about
    // twice a minute, to return freed memory.
    await Bun.sleep(12_000);
    const before = contextSwitches(watcher.pid);
    await Bun.sleep(5_000);
    const after = contextSwitches(watcher.pid);
    expect(after.main - before.main).toBe(0);
    expect(after.all - before.all).toBeLessThanOrEqual(1);

    const postfix = await startTestPostfix(options);
    try {
      const renewed = makeCertificateDirectory(join(temp.path, "staging"), "a.example.test", ["a.example.test"]);
      const mark = watcher.lines.length;
      Bun.spawnSync(["cp", renewed.certFile, renewed.keyFile, join(sslDir, "a.example.test")]);
      await watcher.waitFor(/watch: applied in .*1 name changed \(a\.example\.test\); postfix reloaded/, mark);
      expect((await servedCertificate(postfix.port, "a.example.test")).fingerprint).toBe(renewed.fingerprint);
    } finally {
      await postfix.stop();
    }
    // Postfix stopped (the container stopping): one line, the table is in place for its start.
    const stopped = makeCertificateDirectory(join(temp.path, "staging-2"), "a.example.test", ["a.example.test"]);
    const beforeStop = watcher.lines.length;
    Bun.spawnSync(["cp", stopped.certFile, stopped.keyFile, join(sslDir, "a.example.test")]);
    await watcher.waitFor(/watch: Postfix is not running \(yet\); it loads the new sni\.map\.db when it starts/, beforeStop);
    const mark = watcher.lines.length;
    expect(await watcher.stop()).toBe(0);
    expect(watcher.lines.slice(mark).join("\n")).toContain("watch: SIGTERM");
  } finally {
    await watcher.stop();
  }
}, 60_000);

test("MPI_WATCH=n: one line, then a sleep that never wakes stands in for the watcher", async () => {
  const watcher = startWatchProcess(["--ssl-dir", join(temp.path, "none"), "--conf-dir", join(temp.path, "none")], { MPI_WATCH: "n" });
  try {
    await watcher.waitFor(/watch: disabled \(MPI_WATCH=n\)/, 0);
    await Bun.sleep(200);
    expect(readlinkSync(`/proc/${watcher.pid}/exe`)).toMatch(/\/sleep$/);
    expect(readFileSync(`/proc/${watcher.pid}/cmdline`, "utf8").split("\0")).toContain("infinity");
  } finally {
    expect(await watcher.stop()).not.toBe(0); // sleep ends on SIGTERM
  }
});

test("MPI_WATCH with another value is refused in one line", async () => {
  const watcher = startWatchProcess([], { MPI_WATCH: "maybe" });
  expect(await watcher.exited).toBe(1);
  expect(watcher.lines.join("\n")).toContain("MPI_WATCH in mailcow.conf): expected y or n, got `maybe`");
});
