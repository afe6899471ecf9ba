import { UserError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { interruptionFor, WaitInterrupted } from "../signals.ts";

// Waiting for a dependency (database, DNS): the admin sees a progress line with the elapsed
// time and the last error instead of silence, may set a timeout, and SIGTERM/SIGINT (carried in
// `signal`) end the wait at once.

export interface WaitOptions {
  /** What we wait for, as shown in log lines ("database", "DNS"). */
  what: string;
  /** Resolves when ready; throws (any error) while not ready. Gets the abort signal. */
  probe(signal: AbortSignal): Promise<void>;
  log: Logger;
  signal: AbortSignal;
  /** Pause between attempts. */
  retryMs: number;
  /** Undefined: wait forever. */
  timeoutMs?: number;
  progressEveryMs?: number;
  /** The clock the progress lines and the timeout decision read; the probe's deadline always runs on real time. */
  now?: () => number;
}

export async function waitUntilReady(options: WaitOptions): Promise<void> {
  const now = options.now ?? Date.now;
  const progressEvery = options.progressEveryMs ?? 10_000;
  const started = now();
  const realStarted = Date.now();
  let lastProgress = started;
  let lastError = "";
  for (let attempt = 1; ; attempt++) {
    throwIfInterrupted(options.signal, options.what);
    // A probe blocked in connect() must not outlast the timeout: it is cancelled at the deadline.
    const deadline =
      options.timeoutMs === undefined ? undefined : AbortSignal.timeout(Math.max(1, options.timeoutMs - (Date.now() - realStarted)));
    const attemptSignal = deadline ? AbortSignal.any([options.signal, deadline]) : options.signal;
    try {
      await options.probe(attemptSignal);
      if (attempt > 1) options.log.info(`${options.what} is ready after ${seconds(now() - started)}`);
      return;
    } catch (error) {
      throwIfInterrupted(options.signal, options.what);
      lastError = deadline?.aborted ? lastError || "no answer before the timeout" : oneLine(error);
    }
    const elapsed = now() - started;
    if (attempt === 1) options.log.info(`waiting for ${options.what}: ${lastError}`);
    if (options.timeoutMs !== undefined && elapsed >= options.timeoutMs) {
      throw new UserError(
        `gave up waiting for ${options.what} after ${seconds(elapsed)} (timeout ${seconds(options.timeoutMs)}); last error: ${lastError}`,
      );
    }
    if (now() - lastProgress >= progressEvery) {
      lastProgress = now();
      options.log.info(`still waiting for ${options.what} (${seconds(elapsed)} elapsed): ${lastError}`);
    }
    const remaining =
      options.timeoutMs === undefined ? options.retryMs : Math.min(options.retryMs, Math.max(0, options.timeoutMs - elapsed));
    await sleep(remaining, options.signal);
  }
}

function throwIfInterrupted(signal: AbortSignal, what: string): void {
  if (!signal.aborted) return;
  const reason = signal.reason instanceof WaitInterrupted ? signal.reason : interruptionFor("SIGTERM");
  throw new WaitInterrupted(`${reason.message} while waiting for ${what}`, reason.exitCode);
}

/** A sleep that ends early when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\s*\n\s*/g, " | ").trim() || "not ready";
}
