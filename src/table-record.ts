import { mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { writeFileAtomic } from "./atomic-write.ts";
import { MAX_CONF_BYTES, readBoundedText } from "./bounded-read.ts";
import { fileIdentity } from "./file-identity.ts";
import type { Logger } from "./log.ts";
import { errnoText } from "./errors.ts";

// A Postfix hash table (.db) is a function of its source file and, for `postmap -F`, of the
// files its lines name, whose contents it embeds. After a build that succeeded, its inputs
// (for /etc/aliases the file's identity, file-identity.ts; for sni.map a digest of every
// embedded value) and the identities of its outputs are recorded; a later start whose inputs
// and outputs are all still the same would rebuild the same table, and skips the build. Anything else (a renewed certificate, a new directory, the .db touched or
// replaced by another startup, a record from another version) means a build, as in stock.
// The record lives beside the validation cache (the spool volume), never in the conf dir.

const RECORD_VERSION = 1;

/**
 * Where the record of a table's last build is kept: beside the validation cache
 * (sni/cache.ts's cacheFileFor), so only where there is one. `table`: "sni.map" or "aliases".
 */
export function tableRecordFileFor(cacheFile: string | undefined, table: "sni.map" | "aliases"): string | undefined {
  return cacheFile === undefined ? undefined : join(dirname(cacheFile), `${table}.table.json`);
}

export interface TableRecord {
  /** path -> identity, for the source file and every file the table embeds. */
  inputs: Record<string, string>;
  /** path -> identity of what the build wrote (the .db, and the map text for sni.map). */
  outputs: Record<string, string>;
  /** What wrote the outputs (for sni.map: the postmap binary, table-update.ts's postmapStamp). */
  builtBy?: string;
}

/** The record kept in FILE, or undefined when there is none (or one this version cannot use). */
export function readTableRecord(file: string): TableRecord | undefined {
  try {
    const parsed = JSON.parse(readBoundedText(file, MAX_CONF_BYTES)) as { version?: number } & Partial<TableRecord>;
    if (parsed.version !== RECORD_VERSION || !isIdentityMap(parsed.inputs) || !isIdentityMap(parsed.outputs)) return undefined;
    return { inputs: parsed.inputs, outputs: parsed.outputs, ...(typeof parsed.builtBy === "string" ? { builtBy: parsed.builtBy } : {}) };
  } catch {
    return undefined; // missing or damaged: build, which is always correct
  }
}

/**
 * Whether a build would give the table already in place: the same input files with the same
 * identities as at the last build (`inputs`: snapshotIdentities of this run), and outputs
 * untouched since.
 */
export function tableIsCurrent(record: TableRecord | undefined, inputs: ReadonlyMap<string, string>, outputs: readonly string[]): boolean {
  return record !== undefined && sameIdentities(record.outputs, outputs) && sameIdentities(record.inputs, [...inputs.keys()], inputs);
}

/** Whether OUTPUTS are exactly the files the recorded build left (nothing rewrote or replaced them since). */
export function outputsUnchanged(record: TableRecord, outputs: readonly string[]): boolean {
  return sameIdentities(record.outputs, outputs);
}

/** Identities of PATHS now, to record once the build succeeded. */
export function snapshotIdentities(paths: readonly string[]): Map<string, string> {
  return new Map([...new Set(paths)].map((path) => [path, fileIdentity(path)]));
}

/**
 * Record a build that succeeded: `inputs` as taken before the build read them (a file changed
 * after that then differs from the record next time; for sni.map, content digests of exactly
 * what was embedded), outputs as they are now. Nothing is recorded when an input was missing.
 * Returns whether it was recorded; a failure to write it is one warning (it only costs a build
 * on the next start).
 */
export function saveTableRecord(
  file: string,
  inputs: ReadonlyMap<string, string>,
  outputs: readonly string[],
  log: Pick<Logger, "warn">,
  builtBy?: string,
): boolean {
  if ([...inputs.values()].includes("")) return false;
  const outputIdentities = snapshotIdentities(outputs);
  if ([...outputIdentities.values()].includes("")) return false;
  const record = {
    version: RECORD_VERSION,
    inputs: Object.fromEntries(inputs),
    outputs: Object.fromEntries(outputIdentities),
    ...(builtBy === undefined ? {} : { builtBy }),
  };
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileAtomic(file, JSON.stringify(record), { mode: 0o600, durable: false });
    return true;
  } catch (error) {
    log.warn(`could not save ${file}: ${errnoText(error)}`);
    return false;
  }
}

/** Drop the record before a build: a build that fails half-way must not leave it looking current. */
export function forgetTableRecord(file: string): void {
  rmSync(file, { force: true });
}

function sameIdentities(recorded: Record<string, string>, paths: readonly string[], known?: ReadonlyMap<string, string>): boolean {
  const unique = new Set(paths);
  if (unique.size !== Object.keys(recorded).length) return false;
  for (const path of unique) {
    const identity = known?.get(path) ?? fileIdentity(path);
    if (identity === "" || recorded[path] !== identity) return false;
  }
  return true;
}

function isIdentityMap(value: unknown): value is Record<string, string> {
  return typeof value === "object" && value !== null && Object.values(value).every((identity) => typeof identity === "string");
}
