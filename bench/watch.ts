#!/usr/bin/env bun
// Benchmark (not a timed test): the certificate watcher as the image runs it (the compiled
// binary, BUN_GC_TIMER_DISABLE=1 as supervisord's program sets it) beside a test Postfix on
// loopback, on a tree of 1 default pair and 50 certificate directories.
//
//   node_modules/.bin/bun bench/watch.ts [--idle-seconds 600] [--applies 1000] [--graceful 200]
//
// 1. Idle: CPU time and context switches of every thread over the idle window (after 30 s for
//    the runtime's start-up threads to finish), RSS and open descriptors.
// 2. Applies in a row, each a renewal of one directory (cert.pem then key.pem copied over);
//    during the first --graceful of them a client connects every 100 ms (EHLO, STARTTLS with
//    SNI): refused connections and failed handshakes are counted. Every 50th apply, the time
//    from the last write until a new s_client connection gets the new certificate.
// 3. RSS (and its anonymous part) and descriptors idle, after 20, 100, 250, 500, 750 and all
//    applies, and after a 30 s rest.

import { copyFileSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { cpus, release } from "node:os";
import { join, resolve } from "node:path";
import { makeCertificate, makeCertificateDirectory } from "../test/support/certs.ts";
import { probeStartTls, type ProbeResult } from "../test/support/smtp-client.ts";
import { servedCertificate } from "../test/support/tls.ts";
import { makeTempDir } from "../test/support/tmp.ts";
import { processFootprint, startWatchedPostfix } from "../test/support/watch-process.ts";
import { buildCommand } from "./build-command.ts";

const flag = (name: string, fallback: number) => {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
};
const IDLE_SECONDS = flag("idle-seconds", 600);
const APPLIES = flag("applies", 1000);
const GRACEFUL = flag("graceful", 200);
const DIRECTORIES = 50;
const REPO = resolve(import.meta.dir, "..");
/** Extra environment for the watcher, e.g. MPI_BENCH_WATCH_ENV="MIMALLOC_PURGE_DELAY=-1" to compare allocator settings. */
const EXTRA_ENV = Object.fromEntries(
  (process.env.MPI_BENCH_WATCH_ENV ?? "")
    .split(/\s+/)
    .filter(Boolean)
    .map((pair) => pair.split("=", 2) as [string, string]),
);

/** Context switches of every thread of PID (a thread that exited no longer counts). */
function contextSwitches(pid: number): number {
  let total = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    const status = readFileSync(`/proc/${pid}/task/${task}/status`, "utf8");
    total +=
      Number(status.match(/^voluntary_ctxt_switches:\s+(\d+)/m)![1]) + Number(status.match(/^nonvoluntary_ctxt_switches:\s+(\d+)/m)![1]);
  }
  return total;
}

const temp = makeTempDir("mpi-bench-watch-");
try {
  // Postfix's tools run without -c read MAIL_CONFIG: an empty config dir of this run, never the
  // host's /etc/postfix (as test/support/host-guard.ts sets it for tests).
  const mailConfig = join(temp.path, "mail-config");
  mkdirSync(mailConfig, { mode: 0o755 });
  process.env.MAIL_CONFIG ??= mailConfig;
  const binary = join(temp.path, "mailcow-postfix-init");
  const build = Bun.spawnSync(buildCommand([join(REPO, "src/main.ts"), join(REPO, "src/sni/validate-worker.ts")], binary), { cwd: REPO });
  if (build.exitCode !== 0) throw new Error(`build failed: ${build.stderr.toString()}`);

  const sslDir = join(temp.path, "ssl");
  makeCertificate(sslDir, { names: ["mail.example.test"] });
  for (let index = 0; index < DIRECTORIES; index++) makeCertificateDirectory(sslDir, `d${index}.example.test`, [`d${index}.example.test`]);
  const pairs = ["a", "b"].map((label) =>
    makeCertificateDirectory(join(temp.path, "staging", label), "d0.example.test", ["d0.example.test"]),
  );
  // As in the container: the map is built before Postfix starts (an smtpd started without
  // sni.map.db fails every SNI handshake until it exits), then the watcher starts beside it.
  const { postfix, watcher, stop } = await startWatchedPostfix(temp.path, sslDir, undefined, [binary]);
  try {
    await Bun.sleep(30_000);
    const idleStart = processFootprint(watcher.pid);
    const switchesStart = contextSwitches(watcher.pid);
    await Bun.sleep(IDLE_SECONDS * 1000);
    const idleEnd = processFootprint(watcher.pid);
    const idle = {
      seconds: IDLE_SECONDS,
      cpuMs: idleEnd.cpuMs - idleStart.cpuMs,
      contextSwitches: contextSwitches(watcher.pid) - switchesStart,
      rssKb: idleEnd.rssKb,
      fds: idleEnd.fds,
    };

    const tally: Record<ProbeResult, number> = { ok: 0, refused: 0, "handshake-failed": 0, "other-failure": 0 };
    const failures: string[] = [];
    const probes: Promise<void>[] = [];
    let timer: ReturnType<typeof setInterval> | undefined = setInterval(() => {
      const at = Date.now();
      probes.push(
        probeStartTls(postfix.port, "d0.example.test").then((probe) => {
          tally[probe.result]++;
          if (probe.result !== "ok" && failures.length < 10) failures.push(`${probe.result} after ${Date.now() - at} ms: ${probe.detail}`);
        }),
      );
    }, 100);
    const applyMs: number[] = [];
    const servedMs: number[] = [];
    // Footprint along the way: a one-time rise (JIT code, heap warm-up) levels off; a leak keeps climbing.
    const CHECKPOINTS = new Set([20, 100, 250, 500, 750, APPLIES]);
    const checkpoints: Record<number, ReturnType<typeof processFootprint>> = {};
    const started = Date.now();
    let gracefulSeconds = 0;
    for (let index = 1; index <= APPLIES; index++) {
      const pair = pairs[index % 2]!;
      const mark = watcher.lines.length;
      copyFileSync(pair.certFile, join(sslDir, "d0.example.test", "cert.pem"));
      copyFileSync(pair.keyFile, join(sslDir, "d0.example.test", "key.pem"));
      const wrote = Date.now();
      const line = await watcher.waitFor(/watch: applied in .*d0\.example\.test.*postfix reloaded/, mark, 30_000);
      applyMs.push(Number(line.match(/applied in (\d+) ms/)![1]));
      if (index % 50 === 0) {
        for (;;) {
          const served = await servedCertificate(postfix.port, "d0.example.test").catch(() => undefined);
          if (served?.fingerprint === pair.fingerprint) break;
          await Bun.sleep(20);
        }
        servedMs.push(Date.now() - wrote);
      }
      if (CHECKPOINTS.has(index)) checkpoints[index] = processFootprint(watcher.pid);
      if (index === GRACEFUL && timer) {
        clearInterval(timer);
        timer = undefined;
        gracefulSeconds = (Date.now() - started) / 1000;
        await Promise.all(probes);
      }
    }
    if (timer) clearInterval(timer);
    await Promise.all(probes);
    const appliesSeconds = (Date.now() - started) / 1000;
    if (process.env.MPI_BENCH_LOG) console.log(watcher.lines.join("\n"));
    await Bun.sleep(30_000);
    const rested = processFootprint(watcher.pid);
    const sorted = (values: number[]) => [...values].sort((a, b) => a - b);
    const percentile = (values: number[], p: number) => sorted(values)[Math.min(values.length - 1, Math.floor(values.length * p))];
    console.log(
      JSON.stringify(
        {
          machine: { cpu: cpus()[0]?.model, cores: cpus().length, kernel: release(), bun: Bun.version },
          tree: `1 default pair + ${DIRECTORIES} directories`,
          environment: { BUN_GC_TIMER_DISABLE: "1", ...EXTRA_ENV },
          idle,
          applies: {
            count: APPLIES,
            seconds: appliesSeconds,
            applyMs: { median: percentile(applyMs, 0.5), p95: percentile(applyMs, 0.95), max: Math.max(...applyMs) },
            servedAfterWriteMs: { median: percentile(servedMs, 0.5), max: Math.max(...servedMs), samples: servedMs.length },
          },
          graceful: { applies: Math.min(GRACEFUL, APPLIES), seconds: gracefulSeconds, probes: tally, failures },
          footprint: { idle: idleEnd, afterApplies: checkpoints, after30sRest: rested },
        },
        null,
        2,
      ),
    );
  } finally {
    await stop();
  }
} finally {
  temp.cleanup();
}
