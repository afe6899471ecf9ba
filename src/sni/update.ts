// `sni-map`, `reload` and `start` build the table through here: a restart with nothing changed
// replays the last run's lines (run-record.ts); any other run discovers, validates and plans
// (index.ts) and builds only what changed (table-update.ts), then records itself.
import { join, resolve } from "node:path";
import type { Logger } from "../log.ts";
import type { PostfixTools } from "../postfix/index.ts";
import { openPairCache, saveJudgements, type PairCache, type PersistentPairCache } from "./cache.ts";
import { isEmbeddedValueChanged } from "./embedded.ts";
import {
  buildSniTable,
  embeddedValueDigests,
  fullBuildCertain,
  logNotes,
  logProblems,
  mapKeyForHostname,
  planSniMapOnAllCores,
  sniTableInPlace,
  summarize,
  type SniMapResult,
} from "./index.ts";
import type { Discovery } from "./discover.ts";
import { startStreamedBuild, type StreamedBuild } from "./streamed-build.ts";
import {
  forgetRun,
  prepareRunRecord,
  readRunRecord,
  runRecordFileFor,
  savePreparedRun,
  type PreparedRun,
  type RecordedLine,
  type RunSettings,
  type RunToRecord,
} from "./run-record.ts";
import { fileIdentity } from "../file-identity.ts";
import { mapKeys, SNI_MAP_FILE } from "./write.ts";

export interface SniMapOptions {
  /** Postfix's tools with the command's MAIL_CONFIG (postmap). */
  tools: PostfixTools;
  sslDir: string;
  confDir: string;
  /** MAILCOW_HOSTNAME, mapped to the default certificate (normalized here: case, trailing dot, IDN). */
  hostname?: string;
  now?: Date;
  log: Logger;
  /** The validation cache (see cache.ts's cacheFileFor); none: this run only. */
  cacheFile?: string;
}

const UNCHANGED = "unchanged: no certificate, key or map file changed since sni.map.db was built";

/**
 * Build CONF/sni.map and CONF/sni.map.db (postmap -F) atomically, mode 0600, logging each
 * problem once and one summary line. Throws UserError when the map cannot be written;
 * the previous sni.map and sni.map.db then stay in place.
 */
export async function updateSniMap(options: SniMapOptions): Promise<void> {
  const started = Date.now();
  const settings: RunSettings = {
    sslDir: resolve(options.sslDir),
    confDir: options.confDir,
    hostname: mapKeyForHostname(options.hostname),
  };
  const mapFile = join(options.confDir, SNI_MAP_FILE);
  const outputs: [string, string] = [mapFile, `${mapFile}.db`];
  const runFile = runRecordFileFor(options.cacheFile);
  const now = options.now ?? new Date();
  const recorded = runFile === undefined ? undefined : readRunRecord(runFile, settings, outputs, now);
  if (recorded?.replay) {
    logRecorded(recorded.replay.lines, options.log);
    options.log.info(`sni-map: ${recorded.replay.summary} -> ${mapFile} (${UNCHANGED})`);
    return;
  }
  if (runFile !== undefined) forgetRun(runFile);
  const cache = openPairCache(options.cacheFile);
  const logged = new Set<string>();
  // The run record is made while postmap builds the table; saved once the table is in place.
  let prepared: PreparedRun | undefined;
  const prepareRun =
    runFile === undefined
      ? undefined
      : (result: SniMapResult) => (prepared = prepareRunRecord(runToRecord(result, settings, started, now)));
  try {
    // What the record's check found is not looked up again: discovery when nothing it read
    // changed, and each file's identity the first time validation asks for it.
    const identity = recorded && firstLookupFrom(recorded.identities);
    await planAndWrite({ ...options, now }, cache, cache, logged, { discovery: recorded?.discovery, identity }, prepareRun);
  } catch (error) {
    if (!isEmbeddedValueChanged(error)) throw error;
    // A file no longer holds what its identity vouched for (embedded.ts): read every file.
    options.log.warn(`sni-map: ${(error as Error).message}`);
    await planAndWrite({ ...options, now }, cache, { judge: cache.judge, remember: cache.remember }, logged, {}, prepareRun);
  }
  if (runFile !== undefined) savePreparedRun(runFile, prepared, outputs, options.log);
}

/** What the run record says of the run that gave RESULT, but for the outputs. */
function runToRecord(result: SniMapResult, settings: RunSettings, started: number, now: Date): RunToRecord {
  const lines: RecordedLine[] = [
    ...result.notes.map((message) => ({ level: "info" as const, message })),
    ...result.problems.map((problem) => ({
      level: problem.severity === "error" ? ("error" as const) : ("warning" as const),
      message: problem.message,
    })),
  ];
  return {
    settings,
    discovery: result.discovery,
    sources: result.sources,
    keys: mapKeys(result.content),
    lines,
    summary: summarize(result),
    started,
    now,
  };
}

/**
 * fileIdentity that answers each path's first lookup from KNOWN (identities just taken) and
 * every later one from the file system: validation compares a file's identity before and after
 * reading it, and the second must be new.
 */
function firstLookupFrom(known: Map<string, string>): (path: string) => string {
  const unused = new Map(known);
  return (path) => {
    const identity = unused.get(path);
    if (identity === undefined) return fileIdentity(path);
    unused.delete(path);
    return identity;
  };
}

/** The lines a recorded run logged, logged again in their order. */
function logRecorded(lines: readonly RecordedLine[], log: Logger): void {
  logNotes(
    lines.filter((line) => line.level === "info").map((line) => line.message),
    log,
  );
  log.batch(
    lines.filter((line) => line.level !== "info").map((line) => ({ level: line.level as "warning" | "error", message: line.message })),
  );
}

/**
 * updateSniMap's work, validating through VIEW (CACHE itself, or CACHE without `recall`);
 * LOGGED: problem lines already logged. The judgement cache is saved, and BESIDE_BUILD given
 * the result, while postmap builds the table (or once it is found in place).
 */
async function planAndWrite(
  options: SniMapOptions,
  cache: PersistentPairCache,
  view: PairCache,
  logged: Set<string>,
  known: { discovery?: Discovery; identity?: (path: string) => string },
  besideBuild?: (result: SniMapResult) => void,
): Promise<SniMapResult> {
  // A full build ahead: postmap builds the table while the pairs are judged (streamed-build.ts).
  const streamed = fullBuildCertain(options.cacheFile) ? await startStreamedBuild(options.tools, options.confDir, options.log) : undefined;
  try {
    return await planAndBuild(options, cache, view, logged, known, besideBuild, streamed);
  } finally {
    await streamed?.abort();
  }
}

/** planAndWrite's work, with the table being built while judging (STREAMED) when there is one. */
async function planAndBuild(
  options: SniMapOptions,
  cache: PersistentPairCache,
  view: PairCache,
  logged: Set<string>,
  known: { discovery?: Discovery; identity?: (path: string) => string },
  besideBuild: ((result: SniMapResult) => void) | undefined,
  streamed: StreamedBuild | undefined,
): Promise<SniMapResult> {
  const mapFile = join(options.confDir, SNI_MAP_FILE);
  const result = await planSniMapOnAllCores({ ...options, cache: view, ...known, onValidated: streamed?.add });
  logNotes(
    result.notes.filter((note) => !logged.has(note)),
    options.log,
  );
  logProblems(
    result.problems.filter((problem) => !logged.has(problem.message)),
    options.log,
  );
  for (const line of [...result.notes, ...result.problems.map((problem) => problem.message)]) logged.add(line);
  // Work that does not wait for the table: beside postmap when one runs (buildSniTable calls it once).
  const overlap = () => {
    saveJudgements(cache, options.cacheFile, options.log);
    besideBuild?.(result);
  };
  const inputs = embeddedValueDigests(result.entries);
  if (sniTableInPlace(options.confDir, options.cacheFile, result.content, inputs)) {
    options.log.info(
      `sni-map: ${summarize(result)} -> ${mapFile} (unchanged: no certificate, key or map file changed since sni.map.db was built)`,
    );
    overlap();
  } else {
    const updated = await buildSniTable(
      options.tools,
      options.confDir,
      options.cacheFile,
      result.content,
      result.entries,
      inputs,
      options.log,
      overlap,
      streamed,
    );
    const count = (items: readonly unknown[]) => `${items.length} ${items.length === 1 ? "name" : "names"}`;
    const how = updated ? ` (sni.map.db updated in place: ${count(updated.upserts)} written, ${updated.removals.length} removed)` : "";
    options.log.info(`sni-map: ${summarize(result)} -> ${mapFile}${how}`);
  }
  return result;
}
