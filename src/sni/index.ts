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
import { startEarlyBuild, writeSniMapFiles } from "./write.ts";

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
  return { sslDir: discovery.sslDir, hostname, content: renderSniMap(plan.entries), entries: plan.entries, sources, problems };
}

/**
 * Build CONF/sni.map and CONF/sni.map.db (postmap -F) atomically, mode 0600, logging each
 * problem once and one summary line. Throws UserError when the map cannot be written;
 * the previous sni.map and sni.map.db then stay in place.
 */
export async function updateSniMap(options: SniMapOptions): Promise<SniMapResult> {
  mapKeyForHostname(options.hostname); // a bad hostname is reported before any work
  // postmap -F on the map in place runs on another core while this one plans (write.ts).
  const early = startEarlyBuild(options.confDir, options.log);
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
  const { mapFile } = await writeSniMapFiles(options.confDir, result.content, options.log, early);
  try {
    cache.save();
  } catch (error) {
    // Only costs time on the next start; the map itself is in place.
    options.log.warn(`could not save the validation cache ${options.cacheFile}: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
  options.log.info(`sni-map: ${summarize(result)} -> ${mapFile}`);
  return result;
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
