// A worker thread of validate-parallel.ts: takes batches of the sources from the counter it
// shares with the other threads until none is left, validates them (validate.ts, which reads
// the files and judges them through OpenSSL, bun:ffi opened in this thread) and answers with
// the batches it took, their results, the judgements it used (the main thread's cache records them), and every
// embedded value packed into one buffer that is moved, not copied, to the main thread.
// A separate entrypoint of the compiled binary (package.json's build).
import { openPairCache, type PairCache, type RecalledContent } from "./cache.ts";
import type { SourceJudgement } from "./types.ts";
import { DecodedKeys } from "./decoded-keys.ts";
import { validateSource } from "./validate.ts";
import type { BatchRequest, BatchAnswer } from "./validate-parallel.ts";

declare const self: Worker;

self.onmessage = (event: MessageEvent<BatchRequest>) => {
  self.postMessage(...validateBatches(event.data));
};

function validateBatches({ sources, claims, batch: size, now: nowMs, cacheFile, recall }: BatchRequest): [BatchAnswer, ArrayBuffer[]] {
  const now = new Date(nowMs);
  const persistent = openPairCache(cacheFile);
  const judged: [string, SourceJudgement][] = [];
  const remembered: [string, RecalledContent][] = [];
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
  const taken = new Int32Array(claims);
  const batches: number[] = [];
  const results: ReturnType<typeof validateSource>[] = [];
  for (let batch = Atomics.add(taken, 0, 1); batch * size < sources.length; batch = Atomics.add(taken, 0, 1)) {
    batches.push(batch);
    for (const source of sources.slice(batch * size, (batch + 1) * size)) results.push(validateSource(source, now, cache, { keys }));
  }
  keys.free();
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
  return [{ batches, results: stripped, spans, judged, remembered, values: values.buffer }, [values.buffer]];
}
