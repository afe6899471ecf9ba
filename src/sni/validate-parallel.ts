import { availableParallelism } from "node:os";
import type { Logger } from "../log.ts";
import type { PairCache, RecalledContent } from "./cache.ts";
import type { CertificateSource, Problem, SourceJudgement, ValidatedSource } from "./types.ts";
import { DecodedKeys } from "./decoded-keys.ts";
import { validateSource } from "./validate.ts";

// Judging a pair through OpenSSL costs ten times what reading and digesting it does, and
// thousands of directories are judged on a first start (docs/performance.md). Each source is
// judged on its own, so this thread and worker threads (validate-worker.ts, each with its own
// OpenSSL handles) take batches of the sources as they go, from one counter they share: a
// worker starts ~100 ms after this thread and runs colder code, so fixed halves would leave
// this thread waiting for the worker's. Results keep the sources' order, so the map and the
// problem lines are the same as from one thread. A worker that cannot start or fails (a build
// without the worker's entrypoint, a crash) costs only time: the batches it took are
// validated here instead.

/** Below this many sources per thread a worker's start-up costs more than it saves (docs/performance.md). */
const MIN_SOURCES_PER_THREAD = 128;
const MAX_THREADS = 8;
/** Sources a thread takes at a time: few enough that the threads finish together. */
const BATCH_SOURCES = 16;
/** Sources validated here first, to see whether most need judging (no cached judgement), when the cache remembers any. */
const PROBE_SOURCES = 64;
const JUDGED_SHARE = 0.25;

export interface Validation {
  validated: ValidatedSource;
  problems: Problem[];
}

/** What the main thread asks a worker: the sources to take batches of, the run's `now`, and the cache file to consult. */
export interface ParallelOptions {
  /** The judgement cache's file, which workers consult. */
  cacheFile?: string;
  log?: Pick<Logger, "warn">;
  /** Threads to use at most (default: every core). */
  threads?: number;
  /** Counts the workers that answered, and the sources they validated (tests). */
  used?: { workerAnswers: number; workerSources: number; reclaimedSources: number };
  /** validate.ts's identity, on this thread (the workers take their own). */
  identity?: (path: string) => string;
  /** The worker's module (default: validate-worker.ts; tests give one that fails). */
  worker?: string;
  /** Told of results as they come (batches in any order, each in the sources' order), with their bytes: for a table built meanwhile. */
  onValidated?: (validations: readonly Validation[]) => void;
}

export interface BatchRequest {
  sources: CertificateSource[];
  /** One Int32 shared by every thread: Atomics.add(…, 0, 1) takes the next batch's number. */
  claims: SharedArrayBuffer;
  /** Sources per batch: batch N is sources[N * batch, (N + 1) * batch). */
  batch: number;
  now: number;
  cacheFile?: string;
  /** Whether files whose identities the cache remembers may go unread (the main thread's cache has `recall`). */
  recall: boolean;
}

/** A worker's answer for one batch: results without their values, each value's span in `values`, and the judgements used. */
export interface BatchAnswer {
  batch: number;
  /** The batch's results, in the sources' order. */
  results: Validation[];
  spans: ([number, number] | undefined)[];
  judged: [string, SourceJudgement][];
  /** The file identities the worker remembered or recalled, for the main thread's cache. */
  remembered: [string, RecalledContent][];
  values: ArrayBuffer;
}

/** What a worker posts: a batch's answer as soon as the batch is done; "done" once no batch is left. */
export type WorkerMessage = { kind: "batch"; answer: BatchAnswer } | { kind: "done" };

/**
 * validateSource for every source, on every core when there are enough of them to judge. CACHE is
 * this run's judgement cache; workers consult CACHE_FILE (the same cache as saved) and the
 * judgements they used are recorded in CACHE, so it is saved as if one thread had judged.
 * USED (tests) counts the workers that answered and the sources they validated.
 */
export async function validateOnAllCores(
  sources: readonly CertificateSource[],
  now: Date,
  cache: PairCache | undefined,
  { cacheFile, log, threads = availableParallelism(), used, identity, worker = workerEntry(), onValidated }: ParallelOptions = {},
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
  // One memo of decoded keys for this thread's batches (decoded-keys.ts), freed when done.
  const keys = new DecodedKeys();
  try {
    const validateHere = (slice: readonly CertificateSource[]) => {
      const validated = slice.map((source) => validateSource(source, now, counting, { keys, identity }));
      onValidated?.(validated);
      return validated;
    };
    // With no judgement remembered (a first start, --dry-run) every pair is judged: no probe.
    const nothingRemembered = cache === undefined || cache.empty === true;
    const results = nothingRemembered ? [] : validateHere(sources.slice(0, PROBE_SOURCES));
    const rest = sources.slice(results.length);
    const mostlyJudged = nothingRemembered || judged > results.length * JUDGED_SHARE;
    const count = mostlyJudged ? Math.min(MAX_THREADS, threads, Math.floor(rest.length / MIN_SOURCES_PER_THREAD)) : 1;
    if (count < 2) return [...results, ...validateHere(rest)];
    const claims = new SharedArrayBuffer(4);
    const taken = new Int32Array(claims);
    const batchCount = Math.ceil(rest.length / BATCH_SOURCES);
    const batchOf = (batch: number) => rest.slice(batch * BATCH_SOURCES, (batch + 1) * BATCH_SOURCES);
    let failure: string | undefined;
    const request: BatchRequest = {
      sources: rest,
      claims,
      batch: BATCH_SOURCES,
      now: now.getTime(),
      cacheFile,
      recall: cache?.recall !== undefined,
    };
    const byBatch = new Array<Validation[] | undefined>(batchCount);
    const adoptAnswer = (answer: BatchAnswer) => {
      const adopted = adopt(answer, cache);
      byBatch[answer.batch] = adopted;
      onValidated?.(adopted);
      if (used) used.workerSources += adopted.length;
    };
    const finished = Array.from({ length: count - 1 }, () =>
      validateInWorker(worker, request, adoptAnswer, (reason) => (failure ??= reason)),
    );
    for (let batch = Atomics.add(taken, 0, 1); batch < batchCount; batch = Atomics.add(taken, 0, 1)) {
      byBatch[batch] = validateHere(batchOf(batch));
      // The workers' answers are taken as they come (and their values streamed, if asked).
      await new Promise((resolve) => setImmediate(resolve));
    }
    for (const done of await Promise.all(finished)) if (done && used) used.workerAnswers++;
    // Batches a failed worker took are validated here.
    for (let batch = 0; batch < batchCount; batch++) {
      const validated = byBatch[batch];
      if (validated !== undefined) results.push(...validated);
      else {
        results.push(...validateHere(batchOf(batch)));
        if (used) used.reclaimedSources += batchOf(batch).length;
      }
    }
    if (failure !== undefined) log?.warn(`validation threads: ${failure}; validated on one thread instead (slower, same result)`);
    return results;
  } finally {
    keys.free();
  }
}

/** A worker's results with their values restored; its judgements recorded in CACHE. */
function adopt(answer: BatchAnswer, cache: PairCache | undefined): Validation[] {
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
 * A new worker thread (ENTRY) taking batches of REQUEST's sources, each answer handed to
 * ON_ANSWER as it comes; true once it said it is done, false when it failed, ended without
 * saying so, or could not be created at all (the rejection). Batches it took and did not
 * answer are the caller's to validate.
 */
function validateInWorker(
  entry: string,
  request: BatchRequest,
  onAnswer: (answer: BatchAnswer) => void,
  onFailure: (reason: string) => void,
): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const worker = new Worker(entry);
    // The first call settles; a worker that fails also closes (a second call, which changes nothing).
    const end = (done: boolean) => {
      worker.terminate();
      resolve(done);
    };
    worker.onmessage = (event: MessageEvent<WorkerMessage>) => {
      if (event.data.kind === "batch") onAnswer(event.data.answer);
      else end(true);
    };
    // (Bun reports a worker that cannot load to error listeners.)
    worker.addEventListener("error", (event) => {
      onFailure(event.message || "the worker failed");
      end(false);
    });
    worker.addEventListener("close", () => end(false));
    worker.postMessage(request);
  }).catch(() => false);
}
