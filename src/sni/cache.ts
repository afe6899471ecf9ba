import { mkdirSync } from "node:fs";
import { MAX_CONF_BYTES, readBoundedText } from "../bounded-read.ts";
import { dirname, join } from "node:path";
import { writeFileAtomic } from "../atomic-write.ts";
import type { Logger } from "../log.ts";
import type { SourceJudgement } from "./types.ts";
import { errnoText } from "../errors.ts";
import { programIdentity } from "../file-identity.ts";

// Judging 2,000 certificate directories through OpenSSL costs about a second, and every
// container start sees the same unchanged files. Judgements are remembered by content: the
// key is a SHA-256 over the file names and every byte judged (validate.ts), so a renewed or
// edited file is judged again and an unchanged one never is, whatever its timestamps say.
// The cache holds names, dates and verdicts only, never key material.
//
// Reading and digesting 4,000 files is most of what an unchanged restart costs, so the cache
// also remembers, for the files' identities at the time they were read (device, inode, size,
// mtime, ctime: file-identity.ts), which content they held: the content key, and the digest
// and length of the value built from them. A source whose files all still have those
// identities is not read again (validate.ts). Only identities that no later write can repeat
// are remembered: ctime is set by the kernel and cannot be set back, so a file whose ctime was
// already older than the read by more than a clock tick cannot be rewritten under the same
// identity (the "racy" case git's index knows: validate.ts's RACY_MS).

// Where: on the spool volume, which persists per container and which no git checkout sees.
// mailcow's data/conf/postfix (the conf dir) is part of the admin's mailcow git tree, and a file
// there that mailcow's .gitignore does not name would end up in update.sh's `git add -A`.

/** mailcow's conf dir inside the container: the cache is kept by default only there. */
const MAILCOW_CONF_DIR = "/opt/postfix/conf";
const CACHE_VERSION = 5;

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
  /**
   * What files with these identities held when they were read (validate.ts's identity key),
   * with its judgement; undefined when not remembered. A cache without it (the watcher's,
   * which keeps last good values in memory) has every source read.
   */
  recall?(identityKey: string): RecalledSource | undefined;
  /** Remember what files with these identities held (after a read under which nothing changed). */
  remember?(identityKey: string, content: RecalledContent): void;
  /** True when it remembers no judgement at all (a first start): every pair will be judged. */
  readonly empty?: boolean;
}

/** What a source's files held: the content key of their judgement, and the embedded value's digest and length. */
export interface RecalledContent {
  key: string;
  digest?: string;
  length?: number;
}

export interface RecalledSource extends RecalledContent {
  judgement: SourceJudgement;
}

export interface PersistentPairCache extends PairCache {
  recall(identityKey: string): RecalledSource | undefined;
  remember(identityKey: string, content: RecalledContent): void;
  /** Write what this run used (entries of files no longer present are dropped). */
  save(): void;
  readonly hits: number;
  readonly misses: number;
}

/** The cache kept in `path`; without one (check, --dry-run, tests) it lives for this run only. */
export function openPairCache(path?: string): PersistentPairCache {
  const { entries: previous, identities: previousIdentities } = path === undefined ? emptyCache() : loadEntries(path);
  const current = new Map<string, SourceJudgement>();
  const identities = new Map<string, RecalledContent>();
  let hits = 0;
  let misses = 0;
  let rememberedNew = false;
  return {
    empty: previous.size === 0,
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
    recall(identityKey) {
      const content = previousIdentities.get(identityKey);
      const judgement = content && (current.get(content.key) ?? previous.get(content.key));
      if (!content || !judgement) return undefined;
      hits++;
      current.set(content.key, judgement);
      identities.set(identityKey, content);
      return { ...content, judgement };
    },
    remember(identityKey, content) {
      if (previousIdentities.get(identityKey)?.key !== content.key) rememberedNew = true;
      identities.set(identityKey, content);
    },
    save() {
      // Unchanged tree: nothing to rewrite (the common restart).
      const unchanged = misses === 0 && !rememberedNew && current.size === previous.size && identities.size === previousIdentities.size;
      if (path === undefined || unchanged) return;
      // A cache lost in a crash only costs one slower start: no fsync.
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      // Identities this run did not look at (a run without `recall`, the watcher's) are kept
      // while the content they vouch for is still in use.
      for (const [identityKey, content] of previousIdentities)
        if (!identities.has(identityKey) && current.has(content.key)) identities.set(identityKey, content);
      const saved = {
        version: CACHE_VERSION,
        program: programIdentity(),
        entries: Object.fromEntries(current),
        identities: Object.fromEntries(identities),
      };
      writeFileAtomic(path, JSON.stringify(saved), {
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

interface LoadedCache {
  entries: Map<string, SourceJudgement>;
  identities: Map<string, RecalledContent>;
}

function emptyCache(): LoadedCache {
  return { entries: new Map(), identities: new Map() };
}

function loadEntries(path: string): LoadedCache {
  try {
    const parsed = JSON.parse(readBoundedText(path, MAX_CONF_BYTES)) as {
      version?: number;
      program?: string;
      entries?: Record<string, SourceJudgement>;
      identities?: Record<string, RecalledContent>;
    };
    // Judged by another build (an update brings a new binary and often a new OpenSSL): judged again.
    if (parsed.version !== CACHE_VERSION || parsed.program !== programIdentity()) return emptyCache();
    if (!(parsed.entries instanceof Object)) return emptyCache();
    // Identities of another shape are dropped one by one (a string's entries are its characters).
    const identities = Object.entries(parsed.identities ?? {}).filter(([, content]) => typeof content?.key === "string");
    return { entries: new Map(Object.entries(parsed.entries)), identities: new Map(identities) };
  } catch {
    // Missing or damaged: judge everything again, which is always correct.
    return emptyCache();
  }
}
