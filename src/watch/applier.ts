import { UserError, describeErrorChain, describeFilesystemError } from "../errors.ts";
import { applyLine, planApply, writeApply, type ApplyOptions, type ApplyState, type PlannedApply } from "./apply.ts";
import { expiringCertificates, expiryLine } from "./expiry.ts";
import { createSettler } from "./settle.ts";

// The one owner of the watcher's state and timing. It decides when to apply (a burst settled,
// a changed pair given time to be completed, a failed apply retried, a kept pair expired, the
// daily expiry report due) and remembers what the last apply left (ApplyState). The watcher
// only turns inotify events, signals and timers into calls to it. One apply runs at a time;
// whatever arrives while one runs (events, SIGHUP, a timer) makes it apply once more after.

export interface ApplierOptions extends ApplyOptions {
  /** Quiet time after the last event before applying. */
  quietMs: number;
  /** Longest wait after the first event of a burst. */
  maxDelayMs: number;
  /** How long a changed source whose key and certificate do not load together is waited for. */
  pairWaitMs: number;
  /** First retry of a failed apply; each next one waits twice as long, at most retryMaxMs. */
  retryFirstMs?: number;
  retryMaxMs?: number;
  /** How often the expiring certificates are logged (after the first apply, then this often). */
  expiryReportMs?: number;
  /** Called before every apply: bring the inotify watches in line with the tree. */
  beforeApply?: () => void;
}

export interface Applier {
  /** Something changed in `dir` (an inotify event). */
  changed(dir: string): void;
  /** Apply now: no settle, no pair wait, retries start over (SIGHUP). */
  applyNow(): void;
  /** Finish the apply under way, if any; no timer is left. */
  stop(): Promise<void>;
  /** Whether an apply runs or a settling burst is pending. */
  readonly busy: boolean;
}

export const RETRY_FIRST_MS = 1_000;
export const RETRY_MAX_MS = 60_000;
const DAY_MS = 24 * 60 * 60 * 1000;
/** setTimeout's limit (about 24.8 days); a later time is reached in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Beyond this many changed directories per burst only "many" is remembered (a burst of 20,000 mv's). */
const MAX_TRACKED_DIRS = 1_000;

/** The wait before retry number `attempt` (1 = the first retry): doubling from `first`, at most `max`. Pure. */
export function retryDelay(attempt: number, first = RETRY_FIRST_MS, max = RETRY_MAX_MS): number {
  return Math.min(max, first * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
}

/** A failure is logged when its reason is new, else at attempts 1, 2, 4, 8, ...: a line a minute at first, then ever fewer. Pure. */
export function failureLogged(attempt: number, reasonChanged: boolean): boolean {
  return reasonChanged || (attempt & (attempt - 1)) === 0;
}

export function createApplier(options: ApplierOptions): Applier {
  const { log } = options;
  let state: ApplyState = { lastGood: new Map(), judged: new Map() };
  let changedDirs = new Set<string>();
  let manyChanged = false;
  let running: Promise<void> | undefined;
  let again = false;
  let immediate = false; // the next apply runs at once and skips the pair wait (SIGHUP)
  let stopping = false;
  let pairDeadline: number | undefined;
  let failures = 0;
  let lastFailure = "";
  let reportDueAt = 0; // the expiry report runs after the first apply that succeeds
  const timers = { pair: timer(), retry: timer(), expiry: timer(), report: timer() };

  const settler = createSettler({ quietMs: options.quietMs, maxDelayMs: options.maxDelayMs, fire: () => void runApply() });

  const runApply = (): Promise<void> => {
    if (stopping) return Promise.resolve();
    if (running) {
      again = true;
      return running;
    }
    running = applyOnce().finally(() => {
      running = undefined;
      if (again && !stopping) {
        again = false;
        // Events that arrived during the apply settle like any other; a SIGHUP applies at once.
        if (immediate) void runApply();
        else settler.poke();
      }
    });
    return running;
  };

  const applyOnce = async () => {
    const started = performance.now();
    const dirs = changedDirs;
    const many = manyChanged;
    const skipPairWait = immediate;
    changedDirs = new Set();
    manyChanged = false;
    immediate = false;
    try {
      options.beforeApply?.();
      const planned = planApply(options, state);
      if (!skipPairWait && !many && waitForPair(planned, dirs)) return;
      timers.pair.clear();
      pairDeadline = undefined;
      const { outcome, next } = await writeApply(planned, options, state);
      state = next;
      log.info(applyLine(outcome, planned, performance.now() - started));
      if (failures > 0) log.info(`watch: apply succeeded after ${failures} failed attempt${failures === 1 ? "" : "s"}`);
      failures = 0;
      lastFailure = "";
      timers.retry.clear();
      // A second past a kept pair's expiry it counts as expired, and its names fall back.
      const expiry = planned.retained.nextExpiry;
      timers.expiry.at(expiry === undefined ? undefined : expiry + 1_000, () => void runApply());
      reportExpiring(planned);
    } catch (error) {
      // A conf dir that cannot be written (full, read-only), postmap failing, a lock held too
      // long: the table in place stays as it was, and the apply is tried again with a backoff,
      // whether or not anything changes meanwhile (space freed is no inotify event here).
      for (const dir of dirs) changedDirs.add(dir);
      manyChanged ||= many;
      failures++;
      const wait = retryDelay(failures, options.retryFirstMs, options.retryMaxMs);
      const reason = error instanceof UserError ? error.message : (describeFilesystemError(error) ?? describeErrorChain(error));
      if (failureLogged(failures, reason !== lastFailure)) {
        log.error(
          `watch: apply failed after ${Math.round(performance.now() - started)} ms: ${reason}; sni.map.db left as it was, trying again in ${formatWait(wait)} (failure ${failures})`,
        );
      }
      lastFailure = reason;
      timers.retry.in(wait, () => void runApply());
    }
  };

  /** Whether a changed source does not load yet and is given until the pair-wait deadline to be completed. */
  const waitForPair = (planned: PlannedApply, dirs: ReadonlySet<string>): boolean => {
    const waitingFor = planned.result.sources
      .filter((validated) => !validated.usable && dirs.has(validated.source.dir))
      .map((validated) => validated.source.dir);
    const now = Date.now();
    if (waitingFor.length === 0 || (pairDeadline !== undefined && now >= pairDeadline)) return false;
    if (pairDeadline === undefined) {
      pairDeadline = now + options.pairWaitMs;
      log.info(
        `watch: ${waitingFor.join(", ")}: key and certificate do not load together yet; waiting up to ${options.pairWaitMs} ms for the rest of the renewal`,
      );
    }
    for (const dir of dirs) changedDirs.add(dir);
    timers.pair.in(pairDeadline - now, () => void runApply());
    return true;
  };

  /** At the first apply and then once a day: the mapped certificates close to expiry. */
  const reportExpiring = (planned: PlannedApply) => {
    const now = Date.now();
    if (now < reportDueAt) return;
    reportDueAt = now + (options.expiryReportMs ?? DAY_MS);
    const { retained, result } = planned;
    for (const item of expiringCertificates(retained.entries, result.sources, retained.next, retained.held, now))
      log.warn(expiryLine(item, now));
    // The report reads the tree as it is then: a full check, as a kept pair's expiry does.
    timers.report.at(reportDueAt, () => void runApply());
  };

  return {
    changed(dir) {
      if (stopping) return;
      if (changedDirs.size < MAX_TRACKED_DIRS) changedDirs.add(dir);
      else manyChanged = true;
      if (running) again = true;
      else settler.poke();
    },
    applyNow() {
      if (stopping) return;
      settler.cancel();
      timers.pair.clear();
      pairDeadline = undefined;
      failures = 0;
      immediate = true;
      void runApply();
    },
    async stop() {
      stopping = true;
      settler.cancel();
      for (const each of Object.values(timers)) each.clear();
      await running;
    },
    get busy() {
      return running !== undefined || settler.pending;
    },
  };
}

/** One named timer: armed again replaces it; a time beyond setTimeout's range is reached in steps. */
function timer() {
  let handle: ReturnType<typeof setTimeout> | undefined;
  const self = {
    clear() {
      clearTimeout(handle);
      handle = undefined;
    },
    in(ms: number, fire: () => void) {
      self.at(Date.now() + Math.max(0, ms), fire);
    },
    at(when: number | undefined, fire: () => void) {
      self.clear();
      if (when === undefined || !Number.isFinite(when)) return;
      const wait = Math.max(0, when - Date.now());
      handle = setTimeout(
        () => {
          handle = undefined;
          if (wait > MAX_TIMER_MS) self.at(when, fire);
          else fire();
        },
        Math.min(wait, MAX_TIMER_MS),
      );
    },
  };
  return self;
}

function formatWait(ms: number): string {
  return ms < 1_000 ? `${ms} ms` : `${Math.round(ms / 100) / 10} s`;
}
