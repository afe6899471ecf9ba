// Public face of the SNI engine, used by `sni-map`, `check`, `reload` and `start`:
// discover (fs) -> validate (read + parse) -> plan (pure) -> render (pure) -> write (fs + postmap).
import type { Logger } from "../log.ts";
import type { PairCache } from "./cache.ts";
import { UserError } from "../errors.ts";
import { collectCertificateSources, type Discovery } from "./discover.ts";
import { normalizeHostname } from "./names.ts";
import { planSniMap } from "./plan.ts";
import { renderSniMap } from "./render.ts";
import type { MapEntry, Problem, ValidatedSource } from "./types.ts";
import { DecodedKeys } from "./decoded-keys.ts";
import { validateSource } from "./validate.ts";
import { validateOnAllCores, type Validation } from "./validate-parallel.ts";

export interface SniMapResult {
  sslDir: string;
  /** The hostname as mapped (normalized), when one was given. */
  hostname?: string;
  /** sni.map exactly as written (or as it would be written). */
  content: string;
  entries: MapEntry[];
  sources: ValidatedSource[];
  problems: Problem[];
  /** Information lines for the log (not problems): e.g. a dot-directory holding a cert.pem. */
  notes: string[];
  /** What discovery found, and the identities of what it read (discover.ts). */
  discovery: Discovery;
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
  const keys = new DecodedKeys();
  try {
    for (let round = 1; ; round++) {
      const discovery = collectCertificateSources(options.sslDir);
      const validations = discovery.sources.map((source) => validateSource(source, now, options.cache, { keys }));
      if (round < MAX_ROUNDS && anyVanished(validations)) continue;
      return planFromValidations(discovery, hostname, now, validations);
    }
  } finally {
    keys.free();
  }
}

/** planSniMapFromTree with the sources validated on every core (validate-parallel.ts); workers consult CACHE_FILE. */
export async function planSniMapOnAllCores(
  options: PlanOptions & {
    cacheFile?: string;
    log?: Logger;
    /** Discovery's result when its inputs are known to be unchanged (run-record.ts). */
    discovery?: Discovery;
    identity?: (path: string) => string;
    /** Told of validation results as they come (validate-parallel.ts), e.g. a table built meanwhile. */
    onValidated?: (validations: readonly Validation[]) => void;
  },
): Promise<SniMapResult> {
  const now = options.now ?? new Date();
  const hostname = mapKeyForHostname(options.hostname);
  const { cacheFile, log, onValidated } = options;
  let discovery = options.discovery ?? collectCertificateSources(options.sslDir);
  let identity = options.identity;
  for (let round = 1; ; round++) {
    const validations = await validateOnAllCores(discovery.sources, now, options.cache, { cacheFile, log, identity, onValidated });
    if (round < MAX_ROUNDS && anyVanished(validations)) {
      discovery = collectCertificateSources(options.sslDir);
      identity = undefined;
      continue;
    }
    return planFromValidations(discovery, hostname, now, validations);
  }
}

/** Rounds of discovery and validation in one run when directories vanish while they are read. */
const MAX_ROUNDS = 3;

/**
 * Whether a certificate directory disappeared between its listing and its read: a renewal
 * replacing it with two mv's (the new one staged beside it). What replaced it is in the next
 * discovery; the sources that did not change are judged from the cache the second time. (A
 * directory replaced while discovery itself looked at it is discovery's to list again.)
 */
function anyVanished(validations: readonly Validation[]): boolean {
  return validations.some(({ validated }) => validated.main.failure?.code === "vanished");
}

function planFromValidations(
  discovery: Discovery,
  hostname: string | undefined,
  now: Date,
  validations: readonly Validation[],
): SniMapResult {
  const problems = [...discovery.problems];
  const sources = validations.map(({ validated, problems: found }) => {
    problems.push(...found);
    return validated;
  });
  const plan = planSniMap(sources, hostname, now);
  problems.push(...plan.problems);
  problems.push(...largeTableWarnings(plan.entries));
  return {
    sslDir: discovery.sslDir,
    hostname,
    content: renderSniMap(plan.entries),
    entries: plan.entries,
    sources,
    problems,
    notes: discovery.notes,
    discovery,
  };
}

/** Above this projected size of sni.map.db the build is announced with a warning. */
export const LARGE_DB_BYTES = 100 * 1024 * 1024;

/** postmap -F stores every embedded value in base64 under every name that uses it. Pure. */
export function projectedDbBytes(entries: readonly MapEntry[]): number {
  return entries.reduce((total, entry) => total + Math.ceil(entry.value.length / 3) * 4 + entry.name.length + 32, 0);
}

/** A warning when the table of ENTRIES is projected above LARGE_DB_BYTES, naming the source that adds most; else none. Pure. */
export function largeTableWarnings(entries: readonly MapEntry[]): Problem[] {
  const projected = projectedDbBytes(entries);
  if (projected <= LARGE_DB_BYTES) return [];
  const perSource = new Map<string, number>();
  for (const entry of entries)
    perSource.set(entry.sourceDir, (perSource.get(entry.sourceDir) ?? 0) + Math.ceil(entry.value.length / 3) * 4);
  const [largest, bytes] = [...perSource].sort((a, b) => b[1] - a[1])[0]!;
  const mb = (value: number) => `${Math.round(value / (1024 * 1024))} MB`;
  return [
    {
      severity: "warning",
      code: "large-table",
      source: largest,
      message: `sni.map.db will be about ${mb(projected)} (Postfix stores the whole chain under every name); ${largest} alone adds ${mb(bytes)}. Fewer names per certificate or a wildcard name keeps it small`,
    },
  ];
}

/** The hostname as a map key; a UserError when it is not a DNS name (checked before any lock or work). */
export function mapKeyForHostname(raw: string | undefined): string | undefined {
  const normalized = normalizeHostname(raw);
  if (normalized && !normalized.ok) {
    throw new UserError(
      `hostname ${JSON.stringify(raw)} (--hostname or MAILCOW_HOSTNAME) is not a valid DNS name: ${normalized.reason}; set MAILCOW_HOSTNAME in mailcow.conf to the server's FQDN`,
    );
  }
  return normalized?.name;
}

export function logNotes(notes: readonly string[], log: Logger): void {
  for (const note of notes) log.info(note);
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
export { buildSniTable, embeddedValueDigests, embeddedValueKey, fullBuildCertain, sniTableInPlace } from "./table-build.ts";
export type { MapEntry, Problem, ValidatedSource } from "./types.ts";
