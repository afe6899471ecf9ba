import { mkdirSync } from "node:fs";
import { MAX_CONF_BYTES, readBoundedText } from "../bounded-read.ts";
import { dirname, join } from "node:path";
import { writeFileAtomic } from "../atomic-write.ts";
import type { Logger } from "../log.ts";
import type { SourceJudgement } from "./types.ts";
import { errnoText } from "../errors.ts";

// Judging 2,000 certificate directories through OpenSSL costs about a second, and every
// container start sees the same unchanged files. Judgements are remembered by content: the
// key is a SHA-256 over the file names and every byte judged (validate.ts), so a renewed or
// edited file is judged again and an unchanged one never is, whatever its timestamps say.
// The cache holds names, dates and verdicts only, never key material.

// Where: on the spool volume, which persists per container and which no git checkout sees.
// mailcow's data/conf/postfix (the conf dir) is part of the admin's mailcow git tree, and a file
// there that mailcow's .gitignore does not name would end up in update.sh's `git add -A`.

/** mailcow's conf dir inside the container: the cache is kept by default only there. */
const MAILCOW_CONF_DIR = "/opt/postfix/conf";
const CACHE_VERSION = 4;

/**
 * The cache file for a run: the one asked for (--cache-file / MPI_CACHE_FILE), else the spool
 * volume's in a mailcow container (default conf dir), else none (a run on other directories,
 * as in tests, keeps its cache for the run only).
 */
export function cacheFileFor(confDir: string, requested: string | undefined, spoolDir = "/var/spool/postfix"): string | undefined {
  if (requested) return requested;
  return confDir === MAILCOW_CONF_DIR ? join(spoolDir, ".mailcow-postfix-init", "sni-validation-cache.json") : undefined;
}

export interface PairCache {
  /** The remembered judgement for `key` (validate.ts's content key), else `judge()` remembered. */
  judge(key: string, judge: () => SourceJudgement): SourceJudgement;
}

export interface PersistentPairCache extends PairCache {
  /** Write what this run used (entries of files no longer present are dropped). */
  save(): void;
  readonly hits: number;
  readonly misses: number;
}

/** The cache kept in `path`; without one (check, --dry-run, tests) it lives for this run only. */
export function openPairCache(path?: string): PersistentPairCache {
  const previous = path === undefined ? new Map<string, SourceJudgement>() : loadEntries(path);
  const current = new Map<string, SourceJudgement>();
  let hits = 0;
  let misses = 0;
  return {
    judge(key, judge) {
      const cached = previous.get(key);
      if (cached) {
        hits++;
        current.set(key, cached);
        return cached;
      }
      misses++;
      const judgement = judge();
      current.set(key, judgement);
      return judgement;
    },
    save() {
      // Unchanged tree: nothing to rewrite (the common restart).
      if (path === undefined || (misses === 0 && current.size === previous.size)) return;
      // A cache lost in a crash only costs one slower start: no fsync.
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      writeFileAtomic(path, JSON.stringify({ version: CACHE_VERSION, entries: Object.fromEntries(current) }), {
        mode: 0o600,
        durable: false,
      });
    },
    get hits() {
      return hits;
    },
    get misses() {
      return misses;
    },
  };
}

/** Save the cache; failing only costs time on the next start, so it is one warning. */
export function saveJudgements(cache: PersistentPairCache, path: string | undefined, log: Pick<Logger, "warn">): void {
  try {
    cache.save();
  } catch (error) {
    log.warn(`could not save the validation cache ${path}: ${errnoText(error)}`);
  }
}

function loadEntries(path: string): Map<string, SourceJudgement> {
  try {
    const parsed = JSON.parse(readBoundedText(path, MAX_CONF_BYTES)) as { version?: number; entries?: Record<string, SourceJudgement> };
    if (parsed.version !== CACHE_VERSION || typeof parsed.entries !== "object" || parsed.entries === null) return new Map();
    return new Map(Object.entries(parsed.entries));
  } catch {
    // Missing or damaged: judge everything again, which is always correct.
    return new Map();
  }
}
