import { UserError, describeErrorChain, describeFilesystemError } from "../errors.ts";
import { planApply, writeApply, type ApplyOptions, type ApplyOutcome, type ApplyState, type PlannedApply } from "./apply.ts";
import { createSettler } from "./settle.ts";
import { watchCertificateTree } from "./tree.ts";

// The watch loop: inotify events -> settle -> sync the watches -> plan -> (a bounded wait while
// a changed pair does not load yet) -> write when the table differs -> postfix reload. Only
// timers armed by an event (or by a kept pair's expiry) exist, so an idle watcher sleeps in
// the kernel until the tree changes.

export interface WatcherOptions extends ApplyOptions {
  /** Quiet time after the last event before applying. */
  quietMs: number;
  /** Longest wait after the first event of a burst. */
  maxDelayMs: number;
  /** How long a changed source whose key and certificate do not load together is waited for. */
  pairWaitMs: number;
}

export interface Watcher {
  /** Finish the apply under way, if any, and remove every watch and timer. */
  stop(): Promise<void>;
  /** Directories watched. */
  readonly watches: number;
}

/** setTimeout's limit (about 24.8 days); a later expiry is reached in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Beyond this many changed directories per burst only "many" is remembered (a burst of 20,000 mv's). */
const MAX_TRACKED_DIRS = 1_000;

export function startWatcher(options: WatcherOptions): Watcher {
  const { log } = options;
  const state: ApplyState = { lastGood: new Map(), judged: new Map() };
  let changed = new Set<string>();
  let manyChanged = false;
  let running: Promise<void> | undefined;
  let again = false;
  let stopping = false;
  let pairDeadline: number | undefined;
  let pairTimer: ReturnType<typeof setTimeout> | undefined;
  let expiryTimer: ReturnType<typeof setTimeout> | undefined;

  const onEvent = (dir: string) => {
    if (stopping) return;
    if (changed.size < MAX_TRACKED_DIRS) changed.add(dir);
    else manyChanged = true;
    if (running) again = true;
    else settler.poke();
  };
  const tree = watchCertificateTree(options.sslDir, onEvent, log);
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
        settler.poke();
      }
    });
    return running;
  };

  const applyOnce = async () => {
    const started = performance.now();
    const dirs = changed;
    const many = manyChanged;
    changed = new Set();
    manyChanged = false;
    try {
      tree.sync();
      const planned = planApply(options, state);
      const waitingFor = many ? [] : pairsNotLoading(planned, dirs);
      const now = Date.now();
      if (waitingFor.length > 0 && (pairDeadline === undefined || now < pairDeadline)) {
        if (pairDeadline === undefined) {
          pairDeadline = now + options.pairWaitMs;
          log.info(`watch: ${waitingFor.join(", ")}: key and certificate do not load together yet; waiting up to ${options.pairWaitMs} ms for the rest of the renewal`);
        }
        for (const dir of dirs) changed.add(dir);
        clearTimeout(pairTimer);
        pairTimer = setTimeout(() => void runApply(), Math.max(0, pairDeadline - now));
        return;
      }
      clearTimeout(pairTimer);
      pairDeadline = undefined;
      const outcome = await writeApply(planned, options, state);
      log.info(applyLine(outcome, planned, performance.now() - started));
      armExpiry(planned.retained.nextExpiry);
    } catch (error) {
      // A conf dir that cannot be written, a lock held too long: said once per apply; the next
      // change tries again, and the table in place stays as it was.
      const reason = error instanceof UserError ? error.message : (describeFilesystemError(error) ?? describeErrorChain(error));
      log.error(`watch: apply failed after ${Math.round(performance.now() - started)} ms: ${reason}; sni.map.db left as it was, retried on the next change`);
    }
  };

  const armExpiry = (at: number | undefined) => {
    clearTimeout(expiryTimer);
    expiryTimer = undefined;
    if (at === undefined || !Number.isFinite(at)) return;
    const wait = Math.max(0, at - Date.now());
    expiryTimer = setTimeout(() => (wait > MAX_TIMER_MS ? armExpiry(at) : void runApply()), Math.min(wait + 1_000, MAX_TIMER_MS));
  };

  void runApply();
  log.info(`watch: watching ${options.sslDir} with inotify (${tree.count} directories)`);
  return {
    async stop() {
      stopping = true;
      settler.cancel();
      clearTimeout(pairTimer);
      clearTimeout(expiryTimer);
      await running;
      tree.close();
    },
    get watches() {
      return tree.count;
    },
  };
}

/** Changed sources that are there but do not load (yet). */
function pairsNotLoading(planned: PlannedApply, dirs: ReadonlySet<string>): string[] {
  return planned.result.sources.filter((validated) => !validated.usable && dirs.has(validated.source.dir)).map((validated) => validated.source.dir);
}

/** The one line an apply logs: what changed, whether Postfix was reloaded, how long it took. */
export function applyLine(outcome: ApplyOutcome, planned: PlannedApply, ms: number): string {
  const took = `${Math.round(ms)} ms`;
  const known = outcome.unlogged ? `; ${outcome.unlogged} problem${outcome.unlogged === 1 ? "" : "s"} in the tree, not repeated here (\`mailcow-postfix-init check\` lists them)` : "";
  const held = planned.retained.held.length > 0 ? `; last good pair kept for ${planned.retained.held.length} source${planned.retained.held.length === 1 ? "" : "s"}` : "";
  if (!outcome.rebuilt) return `watch: checked in ${took}: sni.map.db unchanged (${outcome.names} names mapped${held})${known}`;
  const names = outcome.changedNames;
  const what = names === undefined ? `${outcome.names} names mapped` : `${names.length} name${names.length === 1 ? "" : "s"} changed${names.length > 0 ? ` (${names.slice(0, 5).join(", ")}${names.length > 5 ? ` and ${names.length - 5} more` : ""})` : ""}`;
  return `watch: applied in ${took}: sni.map.db rebuilt, ${what}${held}; ${outcome.reloaded ? "postfix reloaded" : names === undefined ? "postfix not reloaded (first build: Postfix loads it when it starts, a running smtpd before its next connection)" : "postfix not reloaded"}${known}`;
}
