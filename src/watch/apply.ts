import { join } from "node:path";
import { withConfLock } from "../conf-lock.ts";
import { fileIdentity } from "../file-identity.ts";
import type { Logger } from "../log.ts";
import { masterIsRunning, postconfValues, postfixReload, type PostfixTools } from "../postfix/index.ts";
import { openPairCache, saveJudgements, type PairCache } from "../sni/cache.ts";
import type { SourceJudgement } from "../sni/types.ts";
import {
  buildSniTable,
  embeddedValueDigests,
  embeddedValueKey,
  logProblems,
  planSniMapFromTree,
  sniTableInPlace,
  type SniMapResult,
} from "../sni/index.ts";
import { renderSniMap } from "../sni/render.ts";
import type { Problem } from "../sni/types.ts";
import { SNI_MAP_FILE } from "../sni/write.ts";
import { retainLastGood, type KeptPair, type Retained } from "./last-good.ts";

// One apply: what `reload` does (plan the map from the certificate tree, build sni.map.db from
// the judged bytes, `postfix reload`), with two differences a long-running watcher needs. The
// last good pair of a source whose new files do not load stays mapped (last-good.ts), and
// nothing is written and Postfix is not reloaded when the table would come out the same.

export interface ApplyOptions {
  /** Postfix's tools with the command's MAIL_CONFIG. */
  tools: PostfixTools;
  sslDir: string;
  confDir: string;
  hostname?: string;
  cacheFile?: string;
  log: Logger;
  /** How long to wait for another writer's lock on the conf dir (--lock-timeout). */
  lockTimeoutMs: number;
  /** `postfix reload` by default; tests of the watcher alone pass a stand-in. */
  reload?: (confDir: string, log: Logger) => Promise<void>;
}

/** What the watcher remembers between applies (owned by applier.ts; the functions here only read it). */
export interface ApplyState {
  lastGood: Map<string, KeptPair>;
  /** Judgements of the last apply, by content key: an unchanged pair is not judged again. */
  judged: Map<string, SourceJudgement>;
  /** What the last apply left in place: map text, value digest per name, and the two files' identities. */
  applied?: { content: string; digests: Map<string, string>; identities: string[] };
  /** Problem lines logged so far that still hold; undefined before the first apply. */
  reported?: Set<string>;
}

export interface PlannedApply {
  result: SniMapResult;
  retained: Retained;
  content: string;
  /** Table-record inputs (index.ts's embeddedValueDigests). */
  inputs: Map<string, string>;
  /** Value digest per mapped name. */
  digests: Map<string, string>;
  /** The judgements this plan used: the next apply's memory (memory follows the tree, not the renewals seen). */
  judged: Map<string, SourceJudgement>;
}

export interface ApplyOutcome {
  rebuilt: boolean;
  reloaded: boolean;
  /** Names added, removed or given another value; undefined on a first build without a previous state. */
  changedNames?: string[];
  names: number;
  /** On the first apply: problems found in the tree and not logged again (the build at start logged them). */
  unlogged?: number;
}

/** Read and judge the tree, keeping last good pairs. Writes nothing, changes nothing in `state`. */
export function planApply(options: ApplyOptions, state: Readonly<ApplyState>, now = new Date()): PlannedApply {
  const persistent = openPairCache(options.cacheFile);
  const judged = new Map<string, SourceJudgement>();
  const cache: PairCache = {
    judge(key, judge) {
      const judgement = persistent.judge(key, () => state.judged.get(key) ?? judge());
      judged.set(key, judgement);
      return judgement;
    },
  };
  const result = planSniMapFromTree({ sslDir: options.sslDir, hostname: options.hostname, now, cache });
  saveJudgements(persistent, options.cacheFile, options.log);
  const retained = retainLastGood(state.lastGood, result, now);
  const inputs = embeddedValueDigests(retained.entries);
  const digests = new Map(retained.entries.map((entry) => [entry.name, inputs.get(embeddedValueKey(entry))!] as const));
  return { result, retained, content: renderSniMap(retained.entries), inputs, digests, judged };
}

/**
 * Build and install the table when it differs from the one in place, then `postfix reload`.
 * Returns the state to remember after it (the caller owns the state; this reads it only).
 */
export async function writeApply(
  planned: PlannedApply,
  options: ApplyOptions,
  state: Readonly<ApplyState>,
): Promise<{ outcome: ApplyOutcome; next: ApplyState }> {
  const mapFile = join(options.confDir, SNI_MAP_FILE);
  const outputs = [mapFile, `${mapFile}.db`];
  const previous = state.applied;
  const changedNames = previous ? namesChanged(previous.digests, planned.digests) : undefined;
  let rebuilt = false;
  await withConfLock(options.confDir, options.log, options.lockTimeoutMs, async () => {
    if (inPlace(planned, options, state, outputs)) return;
    await buildSniTable(
      options.tools,
      options.confDir,
      options.cacheFile,
      planned.content,
      planned.retained.entries,
      planned.inputs,
      options.log,
    );
    rebuilt = true;
  });
  // Problems are logged once the table is in place: a failed write is retried, and its
  // problems are then still new.
  const { unlogged, reported } = logNewProblems(planned.retained.problems, options.log, state.reported);
  const next: ApplyState = {
    lastGood: planned.retained.next,
    judged: planned.judged,
    applied: { content: planned.content, digests: planned.digests, identities: outputs.map(fileIdentity) },
    reported,
  };
  let reloaded = false;
  // Not after the first build: the watcher starts with the container, beside `start`, and a
  // SIGHUP that reached master before it set up its signal handlers would end it. Postfix
  // reads the table when it starts, and a running smtpd notices a rebuilt table by itself
  // before its next connection (a watcher restarted while Postfix runs).
  if (rebuilt && previous !== undefined) {
    try {
      await (options.reload ?? ((confDir, log) => postfixReload(options.tools, confDir, log)))(options.confDir, options.log);
      reloaded = true;
    } catch (error) {
      // Not running yet (the container is starting, or stopping): it loads the new table when
      // it starts. Any other failure: a running smtpd still notices the changed table on its
      // next connection.
      if (await postfixStopped(options))
        options.log.info("watch: Postfix is not running (yet); it loads the new sni.map.db when it starts");
      else options.log.warn(`sni.map.db is rebuilt but postfix reload failed: ${(error as Error).message}`);
    }
  }
  return { outcome: { rebuilt, reloaded, changedNames, names: planned.retained.entries.length, unlogged }, next };
}

/**
 * A problem is logged when it appears, not at every apply: a broken directory left alone for a
 * month is one line, not one per renewal elsewhere. The first apply logs none: the container's
 * start has just logged the same tree's problems (returned as a count for the apply line).
 */
function logNewProblems(
  problems: readonly Problem[],
  log: Logger,
  reported: ReadonlySet<string> | undefined,
): { unlogged?: number; reported: Set<string> } {
  const messages = new Set(problems.map((problem) => problem.message));
  if (reported === undefined) return { unlogged: messages.size, reported: messages };
  logProblems(
    problems.filter((problem) => !reported.has(problem.message)),
    log,
  );
  return { reported: messages };
}

/**
 * Whether the table in place is the one planned: as this watcher left it (same text, same
 * values, files untouched since), or, on the first apply, as the table record of the last
 * build says (the same check `sni-map` makes).
 */
function inPlace(planned: PlannedApply, options: ApplyOptions, state: Readonly<ApplyState>, outputs: string[]): boolean {
  const applied = state.applied;
  if (applied) {
    return (
      applied.content === planned.content &&
      sameMap(applied.digests, planned.digests) &&
      outputs.every((path, index) => fileIdentity(path) === applied.identities[index])
    );
  }
  return sniTableInPlace(options.confDir, options.cacheFile, planned.content, planned.inputs);
}

/** Whether no master runs for the conf dir's queue (Postfix's own test, master -t). */
async function postfixStopped(options: ApplyOptions): Promise<boolean> {
  try {
    const [daemonDirectory] = await postconfValues(options.tools, options.confDir, ["daemon_directory"]);
    return !(await masterIsRunning(options.tools, join(daemonDirectory!, "master"), options.confDir));
  } catch {
    return false;
  }
}

/** Names added, removed or mapped to other bytes, sorted. Pure. */
export function namesChanged(before: ReadonlyMap<string, string>, after: ReadonlyMap<string, string>): string[] {
  const changed = new Set<string>();
  for (const [name, digest] of after) if (before.get(name) !== digest) changed.add(name);
  for (const name of before.keys()) if (!after.has(name)) changed.add(name);
  return [...changed].sort();
}

function sameMap(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>): boolean {
  return a.size === b.size && [...a].every(([key, value]) => b.get(key) === value);
}

/** The one line an apply logs: what changed, whether Postfix was reloaded, how long it took. */
export function applyLine(outcome: ApplyOutcome, planned: PlannedApply, ms: number): string {
  const took = `${Math.round(ms)} ms`;
  const known = outcome.unlogged
    ? `; ${outcome.unlogged} problem${outcome.unlogged === 1 ? "" : "s"} in the tree, not repeated here (\`mailcow-postfix-init check\` lists them)`
    : "";
  const held =
    planned.retained.held.length > 0
      ? `; last good pair kept for ${planned.retained.held.length} source${planned.retained.held.length === 1 ? "" : "s"}`
      : "";
  if (!outcome.rebuilt) return `watch: checked in ${took}: sni.map.db unchanged (${outcome.names} names mapped${held})${known}`;
  const names = outcome.changedNames;
  const what =
    names === undefined
      ? `${outcome.names} names mapped`
      : `${names.length} name${names.length === 1 ? "" : "s"} changed${names.length > 0 ? ` (${names.slice(0, 5).join(", ")}${names.length > 5 ? ` and ${names.length - 5} more` : ""})` : ""}`;
  return `watch: applied in ${took}: sni.map.db rebuilt, ${what}${held}; ${outcome.reloaded ? "postfix reloaded" : names === undefined ? "postfix not reloaded (first build: Postfix loads it when it starts, a running smtpd before its next connection)" : "postfix not reloaded"}${known}`;
}
