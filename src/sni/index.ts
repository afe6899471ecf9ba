// Public face of the SNI engine, used by `sni-map`, `check`, `reload` and `start`:
// discover (fs) -> validate (read + parse) -> plan (pure) -> render (pure) -> write (fs + postmap).
import type { Logger } from "../log.ts";
import { openPairCache, removeLegacyCache, type PairCache } from "./cache.ts";
import { UserError } from "../errors.ts";
import { collectCertificateSources } from "./discover.ts";
import { normalizeHostname } from "./names.ts";
import { planSniMap } from "./plan.ts";
import { renderSniMap } from "./render.ts";
import type { MapEntry, Problem, ValidatedSource } from "./types.ts";
import { validateSource } from "./validate.ts";
import { mapKeys, SNI_MAP_FILE, startEarlyBuild, writeSniMapFiles } from "./write.ts";
import { join } from "node:path";
import { MAX_CONF_BYTES, readBoundedTextIfExists } from "../bounded-read.ts";
import { dbHoldsExactly } from "../postfix.ts";
import { forgetTableRecord, recordedFilesUnchanged, readTableRecord, saveTableRecord, snapshotIdentities, tableIsCurrent, tableRecordFileFor } from "../table-record.ts";

export interface SniMapOptions {
  sslDir: string;
  confDir: string;
  /** MAILCOW_HOSTNAME, mapped to the default certificate (normalized here: case, trailing dot, IDN). */
  hostname?: string;
  now?: Date;
  log: Logger;
  /** The validation cache (see cache.ts's cacheFileFor); none: this run only. */
  cacheFile?: string;
}

export interface SniMapResult {
  sslDir: string;
  /** The hostname as mapped (normalized), when one was given. */
  hostname?: string;
  /** sni.map exactly as written (or as it would be written). */
  content: string;
  entries: MapEntry[];
  sources: ValidatedSource[];
  problems: Problem[];
  /** Identities of the certificate and key files discovery stat'ed (file-identity.ts). */
  identities: ReadonlyMap<string, string>;
}

export interface PlanOptions {
  sslDir: string;
  hostname?: string;
  now?: Date;
  cache?: PairCache;
}

/** Discover, validate and plan the map without writing anything. */
export function planSniMapFromTree(options: PlanOptions): SniMapResult {
  const now = options.now ?? new Date();
  const hostname = mapKeyForHostname(options.hostname);
  const discovery = collectCertificateSources(options.sslDir);
  const problems = [...discovery.problems];
  const sources = discovery.sources.map((source) => {
    const { validated, problems: found } = validateSource(source, now, options.cache, discovery.identities);
    problems.push(...found);
    return validated;
  });
  const plan = planSniMap(sources, hostname);
  problems.push(...plan.problems);
  return { sslDir: discovery.sslDir, hostname, content: renderSniMap(plan.entries), entries: plan.entries, sources, problems, identities: discovery.identities };
}

/**
 * Build CONF/sni.map and CONF/sni.map.db (postmap -F) atomically, mode 0600, logging each
 * problem once and one summary line. Throws UserError when the map cannot be written;
 * the previous sni.map and sni.map.db then stay in place.
 */
export async function updateSniMap(options: SniMapOptions): Promise<SniMapResult> {
  mapKeyForHostname(options.hostname); // a bad hostname is reported before any work
  // Certificates may be renewed while this runs, and postmap -F may read them before discovery
  // takes their identities: only files settled before this moment are recorded.
  const startedAt = Date.now();
  const mapFile = join(options.confDir, SNI_MAP_FILE);
  const outputs = [mapFile, `${mapFile}.db`];
  const recordFile = tableRecordFileFor(options.cacheFile, "sni.map");
  const record = recordFile === undefined ? undefined : readTableRecord(recordFile);
  // postmap -F on the map in place runs on another core while this one plans (write.ts),
  // unless no file of the last build changed (then most likely no build is needed at all; a
  // renewed certificate does change its file, and then the early build pays off).
  const early = recordedFilesUnchanged(record, outputs) ? undefined : startEarlyBuild(options.confDir, options.log);
  const cache = openPairCache(options.cacheFile);
  removeLegacyCache(options.confDir);
  let result: SniMapResult;
  try {
    result = planSniMapFromTree({ ...options, cache });
  } catch (error) {
    await early?.cancel();
    throw error;
  }
  logProblems(result.problems, options.log);
  const inputs = snapshotIdentities(embeddedFiles(result.entries), result.identities);
  if (tableIsCurrent(record, inputs, outputs) && mapInPlaceIs(mapFile, result.content)) {
    options.log.info(`sni-map: ${summarize(result)} -> ${mapFile} (unchanged: no certificate, key or map file changed since sni.map.db was built)`);
  } else {
    if (recordFile !== undefined) forgetTableRecord(recordFile);
    await writeSniMapFiles(options.confDir, result.content, options.log, early);
    options.log.info(`sni-map: ${summarize(result)} -> ${mapFile}`);
    if (recordFile !== undefined) saveTableRecord(recordFile, inputs, outputs, options.log, startedAt);
  }
  try {
    cache.save();
  } catch (error) {
    // Only costs time on the next start; the map itself is in place.
    options.log.warn(`could not save the validation cache ${options.cacheFile}: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
  return result;
}

/** Every file postmap -F embeds for these entries (key and chain files). Pure. */
export function embeddedFiles(entries: readonly MapEntry[]): string[] {
  return [...new Set(entries.flatMap((entry) => entry.files))];
}

/**
 * The map text in place is the one planned, and the .db beside it holds exactly its keys (read
 * from the .db's pages; a .db that read cannot confirm is rebuilt rather than trusted).
 */
function mapInPlaceIs(mapFile: string, content: string): boolean {
  return readBoundedTextIfExists(mapFile, MAX_CONF_BYTES) === content && dbHoldsExactly(mapFile, mapKeys(content));
}

/** The hostname as a map key; a UserError when it is not a DNS name (checked before any lock or work). */
export function mapKeyForHostname(raw: string | undefined): string | undefined {
  const normalized = normalizeHostname(raw);
  if (normalized && !normalized.ok) {
    throw new UserError(`hostname ${JSON.stringify(raw)} (--hostname or MAILCOW_HOSTNAME) is not a valid DNS name: ${normalized.reason}; set MAILCOW_HOSTNAME in mailcow.conf to the server's FQDN`);
  }
  return normalized?.name;
}

export function logProblems(problems: readonly Problem[], log: Logger): void {
  log.batch(problems.map((problem) => ({ level: problem.severity === "error" ? "error" : "warning", message: problem.message })));
}

/** `6 names mapped (3 from the default certificate, 3 from 1 directory); 1 error, 0 warnings`. Pure. */
export function summarize(result: SniMapResult): string {
  const plural = (count: number, one: string, many: string) => `${count} ${count === 1 ? one : many}`;
  const fromDefault = result.entries.filter((entry) => entry.sourceDir === result.sslDir).length;
  const directories = new Set(result.entries.filter((entry) => entry.sourceDir !== result.sslDir).map((entry) => entry.sourceDir)).size;
  const errors = result.problems.filter((problem) => problem.severity === "error").length;
  const warnings = result.problems.length - errors;
  const origin = [
    fromDefault > 0 ? `${fromDefault} from the default certificate` : "none from the default certificate",
    `${result.entries.length - fromDefault} from ${plural(directories, "directory", "directories")}`,
  ];
  return `${plural(result.entries.length, "name", "names")} mapped (${origin.join(", ")}); ${plural(errors, "error", "errors")}, ${plural(warnings, "warning", "warnings")}`;
}

export { normalizeName } from "./names.ts";
export type { MapEntry, Problem, ValidatedSource } from "./types.ts";
