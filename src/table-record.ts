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
// Its first line is the record without its inputs, with one digest over them; the second line
// holds the inputs themselves. A start whose inputs are unchanged compares one digest and
// never parses the second line (10,000 names' digests for sni.map); an update in place
// (sni/table-update.ts) reads it to learn which names changed.

const RECORD_VERSION = 2;

/**
 * Where the record of a table's last build is kept: beside the validation cache
 * (sni/cache.ts's cacheFileFor), so only where there is one. `table`: "sni.map" or "aliases".
 */
export function tableRecordFileFor(cacheFile: string | undefined, table: "sni.map" | "aliases"): string | undefined {
  return cacheFile === undefined ? undefined : join(dirname(cacheFile), `${table}.table.json`);
}

export interface TableRecord {
  /** inputsDigest of the inputs recorded. */
  inputsDigest: string;
  /** The inputs (path -> identity for aliases; map line -> value digest for sni.map), parsed when asked for. */
  inputs(): Record<string, string>;
  /** path -> identity of what the build wrote (the .db, and the map text for sni.map). */
  outputs: Record<string, string>;
  /** What wrote the outputs (for sni.map: the postmap binary, table-update.ts's postmapStamp). */
  builtBy?: string;
}

/** The record kept in FILE, or undefined when there is none (or one this version cannot use). */
export function readTableRecord(file: string): TableRecord | undefined {
  try {
    const text = readBoundedText(file, MAX_CONF_BYTES);
    const split = text.indexOf("\n");
    const header = JSON.parse(split === -1 ? text : text.slice(0, split)) as {
      version?: number;
      inputsDigest?: unknown;
      outputs?: unknown;
      builtBy?: unknown;
    };
    if (header.version !== RECORD_VERSION || typeof header.inputsDigest !== "string" || !isIdentityMap(header.outputs)) return undefined;
    let inputs: Record<string, string> | undefined;
    return {
      inputsDigest: header.inputsDigest,
      inputs() {
        if (inputs !== undefined) return inputs;
        const parsed: unknown = split === -1 ? undefined : JSON.parse(text.slice(split + 1));
        inputs = isIdentityMap(parsed) ? parsed : {};
        return inputs;
      },
      outputs: header.outputs,
      ...(typeof header.builtBy === "string" ? { builtBy: header.builtBy } : {}),
    };
  } catch {
    return undefined; // missing or damaged: build, which is always correct
  }
}

/** One digest over INPUTS (keys and values, in order): equal digests, equal inputs. */
export function inputsDigest(inputs: ReadonlyMap<string, string>): string {
  const hasher = new Bun.CryptoHasher("sha256");
  for (const [key, value] of inputs) hasher.update(`${key}\0${value}\n`);
  return hasher.digest("hex");
}

/**
 * Whether a build would give the table already in place: the same input files with the same
 * identities as at the last build (`inputs`: snapshotIdentities of this run), and outputs
 * untouched since.
 */
export function tableIsCurrent(record: TableRecord | undefined, inputs: ReadonlyMap<string, string>, outputs: readonly string[]): boolean {
  return record !== undefined && identitiesUnchanged(record.outputs, outputs) && record.inputsDigest === inputsDigest(inputs);
}

/** Whether OUTPUTS are exactly the files the recorded build left (nothing rewrote or replaced them since). */
export function outputsUnchanged(record: TableRecord, outputs: readonly string[]): boolean {
  return identitiesUnchanged(record.outputs, outputs);
}

/** Identities of PATHS now, to record once the build succeeded. */
export function snapshotIdentities(paths: readonly string[]): Map<string, string> {
  return new Map([...new Set(paths)].map((path) => [path, fileIdentity(path)]));
}

/** A table record's part that does not depend on the outputs: made while the build runs (prepareTableRecord). */
export interface PreparedTableRecord {
  inputsDigest: string;
  /** The inputs as the record's second line holds them. */
  inputsLine: string;
}

/** What saveTableRecord records of INPUTS, made before the outputs exist; undefined when an input was missing (""). */
export function prepareTableRecord(inputs: ReadonlyMap<string, string>): PreparedTableRecord | undefined {
  if ([...inputs.values()].includes("")) return undefined;
  return { inputsDigest: inputsDigest(inputs), inputsLine: JSON.stringify(Object.fromEntries(inputs)) };
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
  return savePreparedTableRecord(file, prepareTableRecord(inputs), outputs, log, builtBy);
}

/** saveTableRecord with its inputs' part made beforehand (PREPARED; undefined: an input was missing, nothing recorded). */
export function savePreparedTableRecord(
  file: string,
  prepared: PreparedTableRecord | undefined,
  outputs: readonly string[],
  log: Pick<Logger, "warn">,
  builtBy?: string,
): boolean {
  if (prepared === undefined) return false;
  const outputIdentities = snapshotIdentities(outputs);
  if ([...outputIdentities.values()].includes("")) return false;
  const header = {
    version: RECORD_VERSION,
    inputsDigest: prepared.inputsDigest,
    outputs: Object.fromEntries(outputIdentities),
    ...(builtBy === undefined ? {} : { builtBy }),
  };
  return saveRecordFile(file, `${JSON.stringify(header)}\n${prepared.inputsLine}\n`, log);
}

/**
 * Write a record (TEXT) to FILE, private (0600 in a 0700 directory), without fsync: a record
 * lost in a crash costs one build. Failing to write it is one warning, for the same reason.
 */
export function saveRecordFile(file: string, text: string, log: Pick<Logger, "warn">): boolean {
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileAtomic(file, text, { mode: 0o600, durable: false });
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

/** Whether RECORDED holds exactly PATHS, each with the identity its file has now. */
export function identitiesUnchanged(recorded: Record<string, string>, paths: readonly string[]): boolean {
  const unique = new Set(paths);
  if (unique.size !== Object.keys(recorded).length) return false;
  for (const path of unique) {
    const identity = fileIdentity(path);
    if (identity === "" || recorded[path] !== identity) return false;
  }
  return true;
}

/** Whether VALUE (parsed JSON) maps strings to strings, as a record of identities does. */
export function isIdentityMap(value: unknown): value is Record<string, string> {
  return typeof value === "object" && value !== null && Object.values(value).every((identity) => typeof identity === "string");
}
