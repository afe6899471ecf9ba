// A worker thread of validate-parallel.ts: validates a slice of the sources (validate.ts, which
// reads the files and judges them through OpenSSL, bun:ffi opened in this thread) and answers
// with the results, the judgements it used (the main thread's cache records them), and every
// embedded value packed into one buffer that is moved, not copied, to the main thread.
// A separate entrypoint of the compiled binary (package.json's build).
import { openPairCache, type PairCache, type RecalledContent } from "./cache.ts";
import type { CertificateSource, SourceJudgement } from "./types.ts";
import { DecodedKeys } from "./decoded-keys.ts";
import { validateSource } from "./validate.ts";
import type { SliceRequest, SliceResult } from "./validate-parallel.ts";

declare const self: Worker;

self.onmessage = (event: MessageEvent<SliceRequest>) => {
  const { sources, now, cacheFile, recall } = event.data;
  self.postMessage(...validateSlice(sources, new Date(now), cacheFile, recall));
};

function validateSlice(
  sources: readonly CertificateSource[],
  now: Date,
  cacheFile: string | undefined,
  recall: boolean,
): [SliceResult, ArrayBuffer[]] {
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
  const results = sources.map((source) => validateSource(source, now, cache, { keys }));
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
  return [{ results: stripped, spans, judged, remembered, values: values.buffer }, [values.buffer]];
}
