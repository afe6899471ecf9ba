import { afterEach, expect, test } from "bun:test";
import { copyFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createMemoryLogger } from "../../../src/log.ts";
import { handleOtherSignals, startWatcher, type Watcher } from "../../../src/watch/watcher.ts";
import { makeCertificate, makeCertificateDirectory } from "../../support/certs.ts";
import { applyLines, makeWatchTree, until } from "../../support/watch-tree.ts";

// docs/watch.md: the watcher applies at start, then every change inotify reports, and its
// "Signals" table. In-process: real tree, real inotify, real postmap; `postfix reload` is the
// test's stand-in (test/integration/watch-*.test.ts run the `watch` command beside Postfix).

const started: { watcher: Watcher; cleanup: () => void }[] = [];
afterEach(async () => {
  for (const each of started.splice(0)) {
    await each.watcher.stop();
    each.cleanup();
  }
});

const applies = applyLines;

test("it applies at start, says what it watches, then applies a pair renewed in place and a directory added later", async () => {
  const { temp, sslDir, confDir, log, reloads, options } = makeWatchTree("mpi-watcher-");
  const watcher = startWatcher({ ...options, quietMs: 50, maxDelayMs: 1_000, pairWaitMs: 1_000 });
  started.push({ watcher, cleanup: temp.cleanup });
  expect(log.lines).toContain(`mailcow-postfix-init: watch: watching ${sslDir} with inotify (2 directories)`);
  await until(() => applies(log.lines).length === 1);
  expect(watcher.watches).toBe(2);

  const renewed = makeCertificate(join(temp.path, "renewal"), { names: ["a.example.test"] });
  copyFileSync(renewed.keyFile, join(sslDir, "a.example.test", "key.pem"));
  copyFileSync(renewed.certFile, join(sslDir, "a.example.test", "cert.pem"));
  await until(() => applies(log.lines).some((line) => line.includes("1 name changed (a.example.test)")));
  expect(reloads).toEqual([confDir]);

  makeCertificateDirectory(sslDir, "b.example.test", ["b.example.test"]);
  await until(() => readFileSync(join(confDir, "sni.map"), "utf8").includes("b.example.test "));
  await until(() => watcher.watches === 3);
  // Renewed inside the new directory: seen through its own watch.
  const again = makeCertificate(join(temp.path, "renewal-b"), { names: ["b.example.test"] });
  copyFileSync(again.keyFile, join(sslDir, "b.example.test", "key.pem"));
  copyFileSync(again.certFile, join(sslDir, "b.example.test", "cert.pem"));
  await until(() => applies(log.lines).some((line) => line.includes("1 name changed (b.example.test)")));

  watcher.applyNow();
  await until(() => applies(log.lines).at(-1)!.includes("checked in"));
  await watcher.stop();
  expect(watcher.watches).toBe(0);
  const count = log.lines.length;
  makeCertificateDirectory(sslDir, "c.example.test", ["c.example.test"]);
  await Bun.sleep(300);
  expect(log.lines).toHaveLength(count);
});

/** docs/watch.md's "Signals" table: the signals of the row that says "Ignored, one line each". */
function documentedIgnoredSignals(): NodeJS.Signals[] {
  const docs = readFileSync(join(import.meta.dir, "../../../docs/watch.md"), "utf8");
  const row = docs.split("\n").find((line) => line.includes("| Ignored, one line each"))!;
  return [...row.split("|")[1]!.matchAll(/`(SIG\w+)`/g)].map((match) => match[1] as NodeJS.Signals);
}

test("signals: SIGHUP applies now, each other signal the docs list is ignored with one line, and the handlers go when disposed", async () => {
  const ignored = documentedIgnoredSignals();
  expect(ignored.length).toBeGreaterThan(10);
  const every = ["SIGHUP", ...ignored] as NodeJS.Signals[];
  const before = new Map(every.map((name) => [name, process.listenerCount(name)]));
  const log = createMemoryLogger();
  let applied = 0;
  {
    using _handlers = handleOtherSignals({ applyNow: () => applied++ }, log);
    for (const name of every) expect(process.listenerCount(name)).toBe(before.get(name)! + 1);
    process.kill(process.pid, "SIGHUP");
    await until(() => applied === 1);
    expect(log.lines).toEqual(["mailcow-postfix-init: watch: SIGHUP: applying the certificates on disk now"]);
    for (const name of ignored) {
      process.kill(process.pid, name);
      await until(() => log.lines.length === 2);
      expect(log.lines.pop()).toBe(`mailcow-postfix-init: watch: ${name} ignored (SIGHUP applies now, SIGTERM stops)`);
    }
    expect(applied).toBe(1);
  }
  for (const name of every) expect(process.listenerCount(name)).toBe(before.get(name)!);
  // Bun leaves SIGPIPE at its default (the end of the process) once its last listener is gone:
  // ignored again, as Bun starts, so a write to a pipe nobody reads gives EPIPE.
  expect(signalsIgnored() & (1n << 12n)).toBe(1n << 12n);
});

/** This process's ignored signals (/proc/self/status SigIgn: bit N-1 for signal N). */
function signalsIgnored(): bigint {
  return BigInt(`0x${readFileSync("/proc/self/status", "utf8").match(/SigIgn:\s*([0-9a-f]+)/)![1]}`);
}
