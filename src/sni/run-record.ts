import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { MAX_CONF_BYTES, readBoundedText } from "../bounded-read.ts";
import { fileIdentity, identityChangedMs, programIdentity } from "../file-identity.ts";
import type { Logger } from "../log.ts";
import { readHashDbKeys } from "../postfix/hash-db.ts";
import { identitiesUnchanged, isIdentityMap, saveRecordFile } from "../table-record.ts";
import { EXPIRY_WARNING_DAYS } from "./judge.ts";
import type { Discovery } from "./discover.ts";
import { type RecordedDiscovery, recordDiscovery, recordedDiscovery } from "./discovery-record.ts";
import type { ValidatedSource } from "./types.ts";

// A restart with nothing changed is the most common run of all, and at thousands of
// directories even reading the judgement cache and planning again costs more than it needs
// to. So after a run whose table is in place, what that run depended on is recorded: the
// identity (file-identity.ts) of the SSL dir, of every entry in it (a directory's identity
// changes whenever a file is added, removed or renamed in it) and of every file read, each
// taken before the file was read; the options; the program; the first moment at which the
// passing of time alone would change the plan (a certificate becoming valid, expiring, or its
// expiry warning counting down a day); the lines the run logged; the outputs it left.
// A later run that finds all of that the same logs the same lines and leaves the table as it
// is; anything else, and the run does all its work. Identities changed RACY_MS or less
// before the run are never recorded (a write in the same clock tick could repeat them).

const RECORD_VERSION = 3;
const RACY_MS = 50;
const DAY_MS = 24 * 60 * 60 * 1000;

/** What a run depends on besides its files: the options, and the program that ran. */
export interface RunSettings {
  sslDir: string;
  confDir: string;
  hostname?: string;
}

export interface RecordedLine {
  level: "info" | "warning" | "error";
  message: string;
}

interface RunRecord {
  version: number;
  settings: string;
  program: string;
  validUntil: number;
  /** Discovery's inputs (discover.ts's Discovery.observed) and discovery's result. */
  observed: Record<string, string>;
  discovery: RecordedDiscovery;
  /** The pair files every source was validated from. */
  files: Record<string, string>;
  outputs: Record<string, string>;
  keysDigest: string;
  lines: RecordedLine[];
  summary: string;
}

/** What a replayed run logs: its lines, then its summary. */
export interface ReplayedRun {
  lines: RecordedLine[];
  summary: string;
}

/** What the last run's record offers this run (readRunRecord). */
export interface RecordedRun {
  /** Nothing the run depended on changed: log these lines and stop. */
  replay?: ReplayedRun;
  /** Nothing discovery read changed: its result, as recorded (then only validation and the plan run). */
  discovery?: Discovery;
  /** The identity of every recorded file now, as looked up for this check (path -> identity). */
  identities: Map<string, string>;
}

/** Where the record is kept: beside the judgement cache, so only where there is one. */
export function runRecordFileFor(cacheFile: string | undefined): string | undefined {
  return cacheFile === undefined ? undefined : join(dirname(cacheFile), "sni.map.run.json");
}

/**
 * What the record of the last run offers: a replay when nothing it depended on has changed and
 * its outputs are in place, unchanged; else the recorded discovery when nothing discovery read
 * has changed; undefined without a usable record.
 */
export function readRunRecord(
  file: string,
  settings: RunSettings,
  outputs: readonly [map: string, db: string],
  now: Date,
): RecordedRun | undefined {
  let record: RunRecord | undefined;
  try {
    record = JSON.parse(readBoundedText(file, MAX_CONF_BYTES)) as RunRecord;
  } catch {
    // No record, or not JSON: no record this run can use, as below.
  }
  if (record?.version !== RECORD_VERSION || record.settings !== settingsKey(settings) || record.program !== programIdentity())
    return undefined;
  if (
    !isIdentityMap(record.observed) ||
    !isIdentityMap(record.files) ||
    !isIdentityMap(record.outputs) ||
    !Array.isArray(record.discovery?.sources)
  )
    return undefined;
  const identities = new Map<string, string>();
  const unchanged = (recorded: Record<string, string>) => {
    let same = true;
    for (const [path, identity] of Object.entries(recorded)) {
      const now = fileIdentity(path);
      identities.set(path, now);
      if (now !== identity) same = false;
    }
    return same;
  };
  const discoveryUnchanged = unchanged(record.observed);
  const filesUnchanged = unchanged(record.files);
  const discovery = discoveryUnchanged ? recordedDiscovery(record.discovery, settings.sslDir, record.observed) : undefined;
  const replayable =
    discoveryUnchanged &&
    filesUnchanged &&
    now.getTime() < record.validUntil &&
    Array.isArray(record.lines) &&
    typeof record.summary === "string" &&
    tableAsRecorded(record, outputs);
  return { ...(replayable ? { replay: { lines: record.lines, summary: record.summary } } : {}), discovery, identities };
}

/** Whether the table in place is the one RECORD's run left: its files untouched, and the .db's own keys the ones it wrote. */
function tableAsRecorded(record: RunRecord, outputs: readonly [map: string, db: string]): boolean {
  if (!identitiesUnchanged(record.outputs, outputs)) return false;
  // The .db's own keys: the table in place is the one recorded, whatever touched it since.
  const keys = readHashDbKeys(outputs[1]);
  return keys !== undefined && keysDigest(keys) === record.keysDigest;
}

/** What a run record says of a run, but for the outputs it left. */
export interface RunToRecord {
  settings: RunSettings;
  discovery: Discovery;
  sources: readonly ValidatedSource[];
  keys: readonly string[];
  lines: RecordedLine[];
  summary: string;
  started: number;
  now: Date;
}

/** A run record without its outputs, as JSON: made while the table is built (savePreparedRun adds them). */
export interface PreparedRun {
  withoutOutputs: string;
}

/**
 * Record a run whose table is in place (OUTPUTS), when every identity it depended on was
 * taken and none is racy (changed RACY_MS or less before STARTED). Returns whether it was
 * recorded; failing to write it costs only the next run's time (one warning).
 */
export function recordRun(file: string, run: RunToRecord & { outputs: readonly string[] }, log: Pick<Logger, "warn">): boolean {
  return savePreparedRun(file, prepareRunRecord(run), run.outputs, log);
}

/** RUN's record but for its outputs, or undefined when RUN cannot be recorded (an identity not taken, or racy). */
export function prepareRunRecord(run: RunToRecord): PreparedRun | undefined {
  const files: Record<string, string> = {};
  for (const validated of run.sources) {
    if (validated.identities === undefined) return undefined;
    Object.assign(files, validated.identities);
  }
  // An identity not taken ("") has no time (NaN) and is never settled.
  const settled = (identity: string) => identityChangedMs(identity) < run.started - RACY_MS;
  const observed = run.discovery.observed;
  if (![...Object.values(observed), ...Object.values(files)].every(settled)) return undefined;
  const record: Omit<RunRecord, "outputs"> = {
    version: RECORD_VERSION,
    settings: settingsKey(run.settings),
    program: programIdentity(),
    validUntil: nextTimeChange(run.sources, run.now),
    observed,
    discovery: recordDiscovery(run.discovery),
    files,
    keysDigest: keysDigest(run.keys),
    lines: run.lines,
    summary: run.summary,
  };
  return { withoutOutputs: JSON.stringify(record) };
}

/** Save PREPARED with the identities OUTPUTS have now; nothing when there is nothing to save or an output is missing. */
export function savePreparedRun(
  file: string,
  prepared: PreparedRun | undefined,
  outputs: readonly string[],
  log: Pick<Logger, "warn">,
): boolean {
  if (prepared === undefined) return false;
  const identities = Object.fromEntries(outputs.map((path) => [path, fileIdentity(path)]));
  if (Object.values(identities).includes("")) return false;
  // The outputs first, then the rest of the object as prepared ("{" dropped).
  return saveRecordFile(file, `{"outputs":${JSON.stringify(identities)},${prepared.withoutOutputs.slice(1)}`, log);
}

/** Drop the record before a run does its work: a run that fails half-way must not leave it looking current. */
export function forgetRun(file: string): void {
  rmSync(file, { force: true });
}

/**
 * The first moment after NOW at which time alone changes what a plan of SOURCES gives: a
 * certificate becoming valid or expiring (the plan's precedence), entering the expiry-warning
 * window, or, inside it, its "expires in N days" counting down. Pure.
 */
export function nextTimeChange(sources: readonly ValidatedSource[], now: Date, warningDays = EXPIRY_WARNING_DAYS): number {
  const at = now.getTime();
  let next = Number.POSITIVE_INFINITY;
  // A date that does not parse is NaN, which is never after AT.
  const consider = (time: number) => {
    if (time > at) next = Math.min(next, time);
  };
  for (const validated of sources) {
    for (const report of [validated.main, validated.ecdsa]) {
      if (report === undefined) continue;
      const notBefore = report.notBefore ? Date.parse(report.notBefore) : Number.NaN;
      const notAfter = report.notAfter ? Date.parse(report.notAfter) : Number.NaN;
      // Valid from notBefore on; expired from notAfter on (judge.ts, claims.ts).
      consider(notBefore);
      consider(notAfter);
      // The warning says "expires in N days", N the whole days left, while fewer than
      // warningDays are left: the next change is the first millisecond with a whole day less
      // left than now (up to warningDays), the warning's start included.
      const daysLeft = Math.min(warningDays, Math.floor((notAfter - at) / DAY_MS));
      if (daysLeft > 0) consider(notAfter - daysLeft * DAY_MS + 1);
    }
  }
  return next;
}

function settingsKey(settings: RunSettings): string {
  return JSON.stringify([settings.sslDir, settings.confDir, settings.hostname ?? null]);
}

function keysDigest(keys: readonly string[]): string {
  const hasher = new Bun.CryptoHasher("sha256");
  for (const key of [...keys].sort()) hasher.update(`${key}\n`);
  return hasher.digest("hex");
}
