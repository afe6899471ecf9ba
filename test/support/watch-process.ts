import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createMemoryLogger } from "../../src/log.ts";
import { updateSniMap } from "../../src/sni/update.ts";
import { testTools } from "./postfix-tools.ts";
import { makeCertificate, type MadeCertificate } from "./certs.ts";
import { startTestPostfix, writePostfixConfig, type TestPostfix } from "./postfix-server.ts";

// `mailcow-postfix-init watch` as its own process (it runs until a signal), with its log lines
// collected so a test can wait for the next apply.

export interface WatchProcess {
  pid: number;
  lines: string[];
  /** Resolves with the first line after `fromLine` matching `pattern`; rejects after `timeoutMs`. */
  waitFor(pattern: RegExp, fromLine: number, timeoutMs?: number): Promise<string>;
  /** The exit status, once the process has ended and its log is read to the end. */
  exited: Promise<number>;
  stop(): Promise<number>;
}

/** `command`: how to run the program (default: this Bun on src/main.ts; a bench passes the compiled binary). */
export function startWatchProcess(
  args: string[],
  env: Record<string, string> = {},
  command = [process.execPath, resolve(import.meta.dir, "../../src/main.ts")],
): WatchProcess {
  const proc = Bun.spawn([...command, "watch", ...args], {
    stdout: "ignore",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", BUN_GC_TIMER_DISABLE: "1", ...env },
  });
  const lines: string[] = [];
  let partial = "";
  const listeners = new Set<() => void>();
  const drained = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stderr) {
      const parts = (partial + decoder.decode(chunk)).split("\n");
      partial = parts.pop()!;
      lines.push(...parts);
      for (const listener of listeners) listener();
    }
  })();
  const exited = Promise.all([proc.exited, drained]).then(([code]) => code);
  return {
    pid: proc.pid,
    lines,
    exited,
    waitFor(pattern, fromLine, timeoutMs = 10_000) {
      return new Promise((resolvePromise, reject) => {
        const check = () => {
          const found = lines.slice(fromLine).find((line) => pattern.test(line));
          if (!found) return;
          listeners.delete(check);
          clearTimeout(timer);
          resolvePromise(found);
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms; log:\n${lines.slice(fromLine).join("\n")}`));
        }, timeoutMs);
        listeners.add(check);
        check();
      });
    },
    async stop() {
      proc.kill("SIGTERM");
      return await exited;
    },
  };
}

/**
 * VmRSS (kB) and its anonymous part (the process's own memory; the rest is pages of the
 * executable file, shared and reclaimable), open descriptors and CPU time (user + system, ms).
 */
export function processFootprint(pid: number): { rssKb: number; anonKb: number; fds: number; cpuMs: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const rssKb = Number(status.match(/^VmRSS:\s+(\d+)/m)?.[1] ?? NaN);
  const anonKb = Number(status.match(/^RssAnon:\s+(\d+)/m)?.[1] ?? NaN);
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { rssKb, anonKb, fds: readdirSync(`/proc/${pid}/fd`).length, cpuMs: (ticks * 1000) / CLOCK_TICKS_PER_SECOND };
}

/** USER_HZ: 100 on every Linux build this runs on (getconf CLK_TCK). */
const CLOCK_TICKS_PER_SECOND = 100;

export interface WatchedPostfix {
  confDir: string;
  postfix: TestPostfix;
  watcher: WatchProcess;
  /** Postfix's own default chain: what a name without a map entry is served. */
  fallback: MadeCertificate;
  stop(): Promise<void>;
}

/**
 * A test Postfix on loopback whose sni.map the watcher keeps (`ROOT/conf`), and the watcher on
 * `sslDir` (prepared by the test), started once its first apply is logged. `command`: see
 * startWatchProcess.
 */
export async function startWatchedPostfix(
  root: string,
  sslDir: string,
  extraServices?: string[],
  command?: string[],
): Promise<WatchedPostfix> {
  const confDir = join(root, "conf");
  mkdirSync(confDir);
  const fallback = makeCertificate(join(root, "fallback"), { names: ["fallback.invalid"] });
  const options = { root, confDir, defaultKey: fallback.keyFile, defaultCert: fallback.certFile, extraServices };
  writePostfixConfig(options, 1);
  // As in the container: `start` builds the map, then Postfix starts, and the watcher beside it.
  await updateSniMap({ tools: testTools(), sslDir, confDir, hostname: "mail.example.test", log: createMemoryLogger() });
  const postfix = await startTestPostfix(options);
  const watcher = startWatchProcess(["--ssl-dir", sslDir, "--conf-dir", confDir, "--hostname", "mail.example.test"], {}, command);
  await watcher.waitFor(/watch: (applied|checked) in/, 0, 30_000);
  return {
    confDir,
    postfix,
    watcher,
    fallback,
    async stop() {
      await watcher.stop();
      await postfix.stop();
    },
  };
}
