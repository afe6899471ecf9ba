// A worker thread of validate-parallel.ts: takes batches of the sources from the counter it
// shares with the other threads until none is left and validates them (validate.ts, which
// reads the files and judges them through OpenSSL, bun:ffi opened in this thread). Each batch
// is answered as soon as it is done (the main thread may stream its values into the table):
// its results, the judgements used for it (the main thread's cache records them), and its
// embedded values packed into one buffer that is moved, not copied. Then "done".
// A separate entrypoint of the compiled binary (package.json's build).
import { openPairCache, type PairCache, type RecalledContent } from "./cache.ts";
import type { SourceJudgement } from "./types.ts";
import { DecodedKeys } from "./decoded-keys.ts";
import { validateSource } from "./validate.ts";
import type { BatchAnswer, BatchRequest, WorkerMessage } from "./validate-parallel.ts";

declare const self: Worker;

self.onmessage = (event: MessageEvent<BatchRequest>) => {
  validateBatches(event.data, (answer) => self.postMessage({ kind: "batch", answer } satisfies WorkerMessage, [answer.values]));
  self.postMessage({ kind: "done" } satisfies WorkerMessage);
};

function validateBatches(
  { sources, claims, batch: size, now: nowMs, cacheFile, recall }: BatchRequest,
  answer: (batch: BatchAnswer) => void,
): void {
  const now = new Date(nowMs);
  const persistent = openPairCache(cacheFile);
  // What the cache was told since the last answer: each answer carries its own.
  let judged: [string, SourceJudgement][] = [];
  let remembered: [string, RecalledContent][] = [];
  const cache: PairCache = {
    judge(key, judge) {
      const judgement = persistent.judge(key, judge);
      judged.push([key, judgement]);
      return judgement;
    },
    remember(identityKey, content) {
      remembered.push([identityKey, content]);
    },
    ...(recall
      ? {
          recall(identityKey: string) {
            const recalled = persistent.recall(identityKey);
            if (recalled) {
              judged.push([recalled.key, recalled.judgement]);
              remembered.push([identityKey, { key: recalled.key, digest: recalled.digest, length: recalled.length }]);
            }
            return recalled;
          },
        }
      : {}),
  };
  const keys = new DecodedKeys();
  try {
    const taken = new Int32Array(claims);
    for (let batch = Atomics.add(taken, 0, 1); batch * size < sources.length; batch = Atomics.add(taken, 0, 1)) {
      const results = sources.slice(batch * size, (batch + 1) * size).map((source) => validateSource(source, now, cache, { keys }));
      answer({ batch, ...packValues(results), judged, remembered });
      judged = [];
      remembered = [];
    }
  } finally {
    keys.free();
  }
}

/** RESULTS without their bytes, and the bytes in one buffer (each value's span in it). */
function packValues(results: ReturnType<typeof validateSource>[]): Pick<BatchAnswer, "results" | "spans" | "values"> {
  const values = new Uint8Array(results.reduce((total, { validated }) => total + (validated.value?.bytes?.length ?? 0), 0));
  let offset = 0;
  const spans: ([number, number] | undefined)[] = results.map(({ validated }) => {
    const bytes = validated.value?.bytes;
    if (bytes === undefined) return undefined;
    values.set(bytes, offset);
    offset += bytes.length;
    return [offset - bytes.length, bytes.length];
  });
  // The bytes travel in one moved buffer; digest and length with the results.
  const stripped = results.map(({ validated, problems }) => ({
    validated: { ...validated, value: validated.value && { digest: validated.value.digest, length: validated.value.length } },
    problems,
  }));
  return { results: stripped, spans, values: values.buffer };
}
