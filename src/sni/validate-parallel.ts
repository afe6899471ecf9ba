import { availableParallelism } from "node:os";
import type { Logger } from "../log.ts";
import type { PairCache, RecalledContent } from "./cache.ts";
import type { CertificateSource, Problem, SourceJudgement, ValidatedSource } from "./types.ts";
import { DecodedKeys } from "./decoded-keys.ts";
import { validateSource } from "./validate.ts";

// Judging a pair through OpenSSL costs ten times what reading and digesting it does, and
// thousands of directories are judged on a first start (docs/performance.md). Each source is
// judged on its own, so the sources are split into one contiguous slice per core: this thread
// validates the first slice while worker threads (validate-worker.ts) validate the others,
// each with its own OpenSSL handles. Results keep the sources' order, so the map and the problem lines are the
// same as from one thread. A worker that cannot start or fails (a build without the worker's
// entrypoint, a crash) costs only time: its slice is validated here instead.

/** Below this many sources per thread a worker's start-up costs more than it saves (docs/performance.md). */
const MIN_SOURCES_PER_THREAD = 128;
const MAX_THREADS = 8;
/** Sources validated here first, to see whether most need judging (no cached judgement). */
const PROBE_SOURCES = 64;
const JUDGED_SHARE = 0.25;

export interface Validation {
  validated: ValidatedSource;
  problems: Problem[];
}

/** What the main thread asks a worker: its slice, the run's `now`, and the cache file to consult. */
export interface ParallelOptions {
  /** The judgement cache's file, which workers consult. */
  cacheFile?: string;
  log?: Pick<Logger, "warn">;
  /** Threads to use at most (default: every core). */
  threads?: number;
  /** Counts the slices workers validated, and their sources (tests). */
  used?: { workerSlices: number; workerSources: number };
  /** validate.ts's identity, on this thread (the workers take their own). */
  identity?: (path: string) => string;
  /** The worker's module (default: validate-worker.ts; tests give one that fails). */
  worker?: string;
}

export interface SliceRequest {
  sources: CertificateSource[];
  now: number;
  cacheFile?: string;
  /** Whether files whose identities the cache remembers may go unread (the main thread's cache has `recall`). */
  recall: boolean;
}

/** A worker's answer: results without their values, each value's span in `values`, and the judgements used. */
export interface SliceResult {
  results: Validation[];
  spans: ([number, number] | undefined)[];
  judged: [string, SourceJudgement][];
  /** The file identities the worker remembered or recalled, for the main thread's cache. */
  remembered: [string, RecalledContent][];
  values: ArrayBuffer;
}

/**
 * validateSource for every source, on every core when there are enough of them to judge. CACHE is
 * this run's judgement cache; workers consult CACHE_FILE (the same cache as saved) and the
 * judgements they used are recorded in CACHE, so it is saved as if one thread had judged.
 * USED (tests) counts the slices workers validated.
 */
export async function validateOnAllCores(
  sources: readonly CertificateSource[],
  now: Date,
  cache: PairCache | undefined,
  { cacheFile, log, threads = availableParallelism(), used, identity, worker = workerEntry() }: ParallelOptions = {},
): Promise<Validation[]> {
  // A remembered judgement (reads and a digest) costs less than a worker costs to start and to
  // hand its results back: workers pay off only when pairs are judged. The first sources tell
  // how many will be (a restart after a renewal judges one or two).
  let judged = 0;
  const counting: PairCache | undefined = cache && {
    ...cache,
    judge: (key, judge) =>
      cache.judge(key, () => {
        judged++;
        return judge();
      }),
  };
  // One memo of decoded keys for this thread's slices (decoded-keys.ts), freed when done.
  const keys = new DecodedKeys();
  try {
    const validateHere = (slice: readonly CertificateSource[]) =>
      slice.map((source) => validateSource(source, now, counting, { keys, identity }));
    const results = validateHere(sources.slice(0, PROBE_SOURCES));
    const rest = sources.slice(results.length);
    const mostlyJudged = cache === undefined || judged > results.length * JUDGED_SHARE;
    const count = mostlyJudged ? Math.min(MAX_THREADS, threads, Math.floor(rest.length / MIN_SOURCES_PER_THREAD)) : 1;
    if (count < 2) return [...results, ...validateHere(rest)];
    const size = Math.ceil(rest.length / count);
    const slices = Array.from({ length: count }, (_, index) => rest.slice(index * size, (index + 1) * size));
    let failure: string | undefined;
    const answers = slices
      .slice(1)
      .map((slice) =>
        validateInWorker(
          worker,
          { sources: slice, now: now.getTime(), cacheFile, recall: cache?.recall !== undefined },
          (reason) => (failure ??= reason),
        ),
      );
    results.push(...validateHere(slices[0]!));
    for (const [index, answer] of (await Promise.all(answers)).entries()) {
      if (answer === undefined) {
        results.push(...validateHere(slices[index + 1]!));
        continue;
      }
      results.push(...adopt(answer, cache));
      if (used) {
        used.workerSlices++;
        used.workerSources += answer.results.length;
      }
    }
    if (failure !== undefined) log?.warn(`validation threads: ${failure}; validated on one thread instead (slower, same result)`);
    return results;
  } finally {
    keys.free();
  }
}

/** A worker's results with their values restored; its judgements recorded in CACHE. */
function adopt(answer: SliceResult, cache: PairCache | undefined): Validation[] {
  for (const [key, judgement] of answer.judged) cache?.judge(key, () => judgement);
  for (const [identityKey, content] of answer.remembered) cache?.remember?.(identityKey, content);
  const bytes = new Uint8Array(answer.values);
  return answer.results.map((result, index) => {
    // A span for each value the worker read (with bytes); none for a value recalled or absent.
    const span = answer.spans[index];
    if (span === undefined) return result;
    const value = { ...result.validated.value!, bytes: bytes.subarray(span[0], span[0] + span[1]) };
    return { ...result, validated: { ...result.validated, value } };
  });
}

/**
 * Where the worker's code is: beside this module when run from source; in the compiled
 * binary, the entrypoint the build embeds (package.json: src/sni/validate-worker.ts, which the
 * binary's file system holds under its root as sni/validate-worker.ts).
 */
function workerEntry(): string {
  const compiledRoot = "/$bunfs/root/";
  return import.meta.path.startsWith(compiledRoot)
    ? `${compiledRoot}sni/validate-worker.ts`
    : new URL("./validate-worker.ts", import.meta.url).href;
}

/**
 * One slice in a new worker thread (ENTRY); undefined when the worker could not do it: it
 * failed, ended without an answer, or could not be created at all (the rejection).
 */
function validateInWorker(entry: string, request: SliceRequest, onFailure: (reason: string) => void): Promise<SliceResult | undefined> {
  return new Promise<SliceResult | undefined>((resolve) => {
    const worker = new Worker(entry);
    // The first call settles; a worker that fails also closes (a second call, which changes nothing).
    const done = (answer: SliceResult | undefined) => {
      worker.terminate();
      resolve(answer);
    };
    worker.onmessage = (event: MessageEvent<SliceResult>) => done(event.data);
    // (Bun reports a worker that cannot load to error listeners.)
    worker.addEventListener("error", (event) => {
      onFailure(event.message || "the worker failed");
      done(undefined);
    });
    worker.addEventListener("close", () => done(undefined));
    worker.postMessage(request);
  }).catch(() => undefined);
}
