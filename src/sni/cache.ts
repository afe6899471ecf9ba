import { mkdirSync, rmSync } from "node:fs";
import { fileIdentity } from "../file-identity.ts";
import { MAX_CONF_BYTES, readBoundedText } from "../bounded-read.ts";
import { dirname, join } from "node:path";
import { writeFileAtomic } from "../atomic-write.ts";
import type { KeyPairFiles, PairReport } from "./types.ts";

// Parsing 2,000 RSA keys costs ~0.2 s, more than half of what postmap -F needs for the same
// map, and every container start re-checks the same unchanged files. Results are remembered
// by file identity: device, inode, size, mtime and ctime of both files (ctime cannot be set
// back by a user, and acme writes new files on renewal). The cache holds names, dates and
// verdicts only, never key material.

// Where: on the spool volume, which persists per container and which no git checkout sees.
// mailcow's data/conf/postfix (the conf dir) is part of the admin's mailcow git tree, and a file
// there that mailcow's .gitignore does not name would end up in update.sh's `git add -A`.

/** The cache's place in a mailcow container (spool volume). */
export const DEFAULT_CACHE_FILE = "/var/spool/postfix/.mailcow-postfix-init/sni-validation-cache.json";
/** mailcow's conf dir inside the container: the cache is kept by default only there. */
const MAILCOW_CONF_DIR = "/opt/postfix/conf";
/** Where releases up to 0.1 kept it (in the conf dir); removed when found. */
export const LEGACY_CACHE_FILE = ".sni-validation-cache.json";
const CACHE_VERSION = 2;

/**
 * The cache file for a run: the one asked for (--cache-file / MPI_CACHE_FILE), else the spool
 * volume's in a mailcow container (default conf dir), else none (a run on other directories,
 * as in tests, keeps its cache for the run only).
 */
export function cacheFileFor(confDir: string, requested: string | undefined, spoolDir = "/var/spool/postfix"): string | undefined {
  if (requested) return requested;
  return confDir === MAILCOW_CONF_DIR ? join(spoolDir, ".mailcow-postfix-init", "sni-validation-cache.json") : undefined;
}

/** The cache file older releases left in the conf dir (inside the admin's git tree). */
export function removeLegacyCache(confDir: string): void {
  rmSync(join(confDir, LEGACY_CACHE_FILE), { force: true });
}

interface CacheEntry {
  identity: string;
  report: PairReport;
}

export interface PairCache {
  /**
   * The cached report when both files are unchanged, else `validate(files)` (and remember it).
   * `known`: identities already taken (discovery's stats), used instead of a second stat.
   */
  validate(files: KeyPairFiles, validate: (files: KeyPairFiles) => PairReport, known?: ReadonlyMap<string, string>): PairReport;
}

export interface PersistentPairCache extends PairCache {
  /** Write what this run used (entries of vanished files are dropped). */
  save(): void;
  readonly hits: number;
  readonly misses: number;
}

/** The cache kept in `path`; without one (check, --dry-run, tests) it lives for this run only. */
export function openPairCache(path?: string): PersistentPairCache {
  const previous = path === undefined ? new Map<string, CacheEntry>() : loadEntries(path);
  const current = new Map<string, CacheEntry>();
  const keyOf = (files: KeyPairFiles) => `${files.keyFile}\0${files.certFile}`;
  const identityOf = (files: KeyPairFiles, known?: ReadonlyMap<string, string>) =>
    `${known?.get(files.keyFile) ?? fileIdentity(files.keyFile)}|${known?.get(files.certFile) ?? fileIdentity(files.certFile)}`;
  const remember = (key: string, entry: CacheEntry) => {
    // Unreadable files are not remembered: their permissions may be fixed without a ctime change.
    if (!entry.report.failure?.code.endsWith("-unreadable")) current.set(key, entry);
  };
  let hits = 0;
  let misses = 0;
  return {
    validate(files, validate, known) {
      const key = keyOf(files);
      const identity = identityOf(files, known);
      const cached = previous.get(key);
      if (cached && cached.identity === identity && identity !== "|") {
        hits++;
        current.set(key, cached);
        return { ...cached.report, files };
      }
      misses++;
      const entry = { identity, report: validate(files) };
      remember(key, entry);
      return entry.report;
    },
    save() {
      // Unchanged tree: nothing to rewrite (the common restart).
      if (path === undefined || (misses === 0 && current.size === previous.size)) return;
      const entries = Object.fromEntries(current);
      // A cache lost in a crash only costs one slower start: no fsync.
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      writeFileAtomic(path, JSON.stringify({ version: CACHE_VERSION, entries }), { mode: 0o600, durable: false });
    },
    get hits() {
      return hits;
    },
    get misses() {
      return misses;
    },
  };
}

function loadEntries(path: string): Map<string, CacheEntry> {
  try {
    const parsed = JSON.parse(readBoundedText(path, MAX_CONF_BYTES)) as { version?: number; entries?: Record<string, CacheEntry> };
    if (parsed.version !== CACHE_VERSION || typeof parsed.entries !== "object" || parsed.entries === null) return new Map();
    return new Map(Object.entries(parsed.entries));
  } catch {
    // Missing or damaged: validate everything again, which is always correct.
    return new Map();
  }
}
