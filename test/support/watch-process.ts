import { readdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";

// `mailcow-postfix-init watch` as its own process (it runs until a signal), with its log lines
// collected so a test can wait for the next apply.

export interface WatchProcess {
  pid: number;
  lines: string[];
  /** Resolves with the first line after `fromLine` matching `pattern`; rejects after `timeoutMs`. */
  waitFor(pattern: RegExp, fromLine: number, timeoutMs?: number): Promise<string>;
  stop(): Promise<number>;
}

export function startWatchProcess(args: string[], env: Record<string, string> = {}): WatchProcess {
  const proc = Bun.spawn([process.execPath, resolve(import.meta.dir, "../../src/main.ts"), "watch", ...args], {
    stdout: "ignore",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", BUN_GC_TIMER_DISABLE: "1", ...env },
  });
  const lines: string[] = [];
  let partial = "";
  const listeners = new Set<() => void>();
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stderr) {
      const parts = (partial + decoder.decode(chunk)).split("\n");
      partial = parts.pop()!;
      lines.push(...parts);
      for (const listener of listeners) listener();
    }
  })();
  return {
    pid: proc.pid,
    lines,
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
      return await proc.exited;
    },
  };
}

/** VmRSS (kB), open descriptors and CPU time (user + system, ms) of a process we started. */
export function processFootprint(pid: number): { rssKb: number; fds: number; cpuMs: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const rssKb = Number(status.match(/^VmRSS:\s+(\d+)/m)?.[1] ?? NaN);
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { rssKb, fds: readdirSync(`/proc/${pid}/fd`).length, cpuMs: (ticks * 1000) / CLOCK_TICKS_PER_SECOND };
}

/** USER_HZ: 100 on every Linux build this runs on (getconf CLK_TCK). */
const CLOCK_TICKS_PER_SECOND = 100;
