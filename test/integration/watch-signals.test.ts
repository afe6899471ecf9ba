import { afterAll, expect, test } from "bun:test";
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { mountTmpfs, cleanUp } from "../adversarial/harness.ts";
import { makeCertificate, makeCertificateDirectory } from "../support/certs.ts";
import { writePostfixConfig } from "../support/postfix-server.ts";
import { makeTempDir } from "../support/tmp.ts";
import { startWatchProcess, type WatchProcess } from "../support/watch-process.ts";

// The watcher as an admin and the tools around it treat it: signals it must survive (SIGHUP
// applies now), a conf dir that fills up and frees again (retried without any new change), and
// a certificate close to expiry (logged at start).

const temp = makeTempDir("mpi-watch-sig-");
afterAll(() => {
  cleanUp();
  temp.cleanup();
});

let trees = 0;
/** An SSL dir with a default pair and one directory, a conf dir with a Postfix config (no Postfix runs). */
function tree(confDir?: string): { sslDir: string; confDir: string; root: string } {
  const root = join(temp.path, `tree-${trees++}`);
  const sslDir = join(root, "ssl");
  confDir ??= join(root, "conf");
  mkdirSync(confDir, { recursive: true });
  makeCertificate(sslDir, { names: ["mail.example.test"] });
  makeCertificateDirectory(sslDir, "a.example.test", ["a.example.test"]);
  const fallback = makeCertificate(join(root, "fallback"), { names: ["fallback.invalid"] });
  writePostfixConfig({ root, confDir, defaultKey: fallback.keyFile, defaultCert: fallback.certFile }, 1);
  return { sslDir, confDir, root };
}

function watch(sslDir: string, confDir: string): WatchProcess {
  return startWatchProcess(["--ssl-dir", sslDir, "--conf-dir", confDir, "--hostname", "mail.example.test"]);
}

function embedded(confDir: string, name: string): string | undefined {
  const query = Bun.spawnSync(["postmap", "-c", confDir, "-q", name, `hash:${confDir}/sni.map`], { stdout: "pipe", stderr: "pipe" });
  return query.exitCode === 0 ? Buffer.from(query.stdout.toString().trim(), "base64").toString() : undefined;
}

test("SIGHUP applies now (a change inotify cannot see); other signals are ignored with a line; SIGTERM stops it", async () => {
  const { sslDir, confDir, root } = tree();
  // A certificate directory that is a link to a directory elsewhere: changes there make no event.
  const outside = makeCertificateDirectory(join(root, "outside"), "b.example.test", ["b.example.test"]);
  symlinkSync(outside.dir, join(sslDir, "b.example.test"));
  const watcher = watch(sslDir, confDir);
  try {
    await watcher.waitFor(/watch: applied in/, 0, 30_000);
    const renewed = makeCertificate(join(root, "renewed"), { names: ["b.example.test"] });
    cpSync(renewed.certFile, outside.certFile);
    cpSync(renewed.keyFile, outside.keyFile);
    await Bun.sleep(600); // longer than the settle time: nothing happens by itself
    let mark = watcher.lines.length;
    process.kill(watcher.pid, "SIGHUP");
    await watcher.waitFor(/watch: applied in .*1 name changed \(b\.example\.test\)/, mark);
    expect(watcher.lines.slice(mark).filter((line) => line.includes("SIGHUP"))).toEqual([
      "mailcow-postfix-init: watch: SIGHUP: applying the certificates on disk now",
    ]);
    expect(embedded(confDir, "b.example.test")).toBe(`${readFileSync(renewed.keyFile, "utf8")}\n${readFileSync(renewed.certFile, "utf8")}`);

    for (const signal of [
      "SIGHUP",
      "SIGUSR1",
      "SIGUSR2",
      "SIGPIPE",
      "SIGALRM",
      "SIGVTALRM",
      "SIGPROF",
      "SIGIO",
      "SIGXCPU",
      "SIGXFSZ",
      "SIGTTIN",
      "SIGTTOU",
      "SIGTSTP",
      "SIGHUP",
    ] as const) {
      mark = watcher.lines.length;
      process.kill(watcher.pid, signal);
      await watcher.waitFor(new RegExp(`watch: ${signal}`), mark);
    }
    await watcher.waitFor(/watch: checked in .*unchanged/, mark);
    expect(watcher.lines.filter((line) => /SIGUSR1/.test(line))).toEqual([
      "mailcow-postfix-init: watch: SIGUSR1 ignored (SIGHUP applies now, SIGTERM stops)",
    ]);
    expect(() => process.kill(watcher.pid, 0)).not.toThrow();
    mark = watcher.lines.length;
    process.kill(watcher.pid, "SIGTERM");
    expect(await watcher.exited).toBe(0);
    expect(watcher.lines.slice(mark).join("\n")).toContain("watch: SIGTERM: finishing the apply under way, then stopping");
  } finally {
    await watcher.stop();
  }
}, 60_000);

test("a conf dir that fills up: the failed apply is retried with a backoff, and applied once space returns, no new change needed", async () => {
  const root = join(temp.path, "full");
  const confDir = join(root, "conf");
  mountTmpfs(confDir, "400k");
  const { sslDir } = tree(confDir);
  const watcher = watch(sslDir, confDir);
  try {
    await watcher.waitFor(/watch: applied in/, 0, 30_000);
    // Fill the conf dir: the next .db cannot be written.
    Bun.spawnSync(["dd", "if=/dev/zero", `of=${join(confDir, "filler")}`, "bs=1k", "count=1000"], { stderr: "pipe" });
    const renewed = makeCertificate(join(root, "renewed"), { names: ["a.example.test"] });
    const mark = watcher.lines.length;
    cpSync(renewed.certFile, join(sslDir, "a.example.test", "cert.pem"));
    cpSync(renewed.keyFile, join(sslDir, "a.example.test", "key.pem"));
    await watcher.waitFor(/watch: apply failed .*trying again in 1 s \(failure 1\)/, mark);
    await watcher.waitFor(/watch: apply failed .*trying again in 2 s \(failure 2\)/, mark);
    const failures = watcher.lines.slice(mark).filter((line) => line.includes("apply failed"));
    expect(failures).toHaveLength(2);
    expect(failures[0]).toMatch(/ENOSPC|No space/);
    rmSync(join(confDir, "filler"));
    await watcher.waitFor(/watch: applied in .*1 name changed \(a\.example\.test\)/, mark, 15_000);
    await watcher.waitFor(/watch: apply succeeded after 2 failed attempts/, mark);
    expect(embedded(confDir, "a.example.test")).toBe(`${readFileSync(renewed.keyFile, "utf8")}\n${readFileSync(renewed.certFile, "utf8")}`);
  } finally {
    await watcher.stop();
  }
}, 60_000);

test("at start, every mapped name whose certificate expires within 14 days is logged with the day", async () => {
  const { sslDir, confDir } = tree();
  makeCertificateDirectory(sslDir, "soon.example.test", ["soon.example.test", "www.soon.example.test"], { days: 3 });
  writeFileSync(join(sslDir, "soon.example.test", "domains"), "soon.example.test www.soon.example.test");
  const watcher = watch(sslDir, confDir);
  try {
    await watcher.waitFor(/watch: applied in/, 0, 30_000);
    await watcher.waitFor(/expires on/, 0); // logged right after the apply's line
    await Bun.sleep(300); // and nothing else expiring after it
    const day = new Date(Date.now() + 3 * 24 * 3600 * 1000).toISOString().slice(0, 10);
    const expiring = watcher.lines.filter((line) => line.includes("expires on"));
    expect(expiring).toHaveLength(1);
    expect(expiring[0]).toContain(`soon.example.test, www.soon.example.test expires on ${day} (in 2 days)`);
  } finally {
    await watcher.stop();
  }
}, 60_000);

test("a second SIGTERM during the build ends the watcher at once, and its copy of the keys goes with it", async () => {
  const { sslDir, confDir, root } = tree();
  const watcher = watch(sslDir, confDir);
  try {
    await watcher.waitFor(/watch: applied in/, 0, 30_000);
  } finally {
    await watcher.stop();
  }
  // Again with a postmap that takes 5 s to start: the build is under way when the signals come.
  const bin = join(root, "bin");
  mkdirSync(bin);
  const marker = join(root, "postmap-started");
  writeFileSync(
    join(bin, "postmap"),
    `#!/bin/sh\ncase " $* " in *" -F "*) : > '${marker}'; sleep 5;; esac\nexec '${Bun.which("postmap")}' "$@"\n`,
  );
  chmodSync(join(bin, "postmap"), 0o755);
  const slow = startWatchProcess(["--ssl-dir", sslDir, "--conf-dir", confDir, "--hostname", "mail.example.test"], {
    PATH: `${bin}:${process.env.PATH}`,
  });
  try {
    await slow.waitFor(/watch: (applied|checked) in/, 0, 30_000);
    rmSync(marker, { force: true });
    const renewed = makeCertificate(join(root, "renewed"), { names: ["a.example.test"] });
    cpSync(renewed.certFile, join(sslDir, "a.example.test", "cert.pem"));
    cpSync(renewed.keyFile, join(sslDir, "a.example.test", "key.pem"));
    const started = Date.now();
    while (!existsSync(marker) && Date.now() - started < 10_000) await Bun.sleep(20);
    expect(readdirSync("/dev/shm").filter((name) => name.startsWith(`mailcow-postfix-init-sni-${slow.pid}-`))).toHaveLength(1);
    process.kill(slow.pid, "SIGTERM");
    await slow.waitFor(/watch: SIGTERM: finishing the apply under way/, 0);
    process.kill(slow.pid, "SIGTERM");
    expect(await slow.exited).toBe(143);
    expect(Date.now() - started).toBeLessThan(4_000); // not after postmap's 5 s
    expect(readdirSync("/dev/shm").filter((name) => name.startsWith(`mailcow-postfix-init-sni-${slow.pid}-`))).toEqual([]);
  } finally {
    await slow.stop();
  }
}, 60_000);
