// A worker thread of validate-parallel.ts: validates a slice of the sources (validate.ts, which
// reads the files and judges them through OpenSSL, bun:ffi opened in this thread) and answers
// with the results, the judgements it used (the main thread's cache records them), and every
// embedded value packed into one buffer that is moved, not copied, to the main thread.
// A separate entrypoint of the compiled binary (package.json's build).
import { openPairCache, type PairCache } from "./cache.ts";
import type { CertificateSource, SourceJudgement } from "./types.ts";
import { validateSource } from "./validate.ts";
import type { SliceRequest, SliceResult } from "./validate-parallel.ts";

declare const self: Worker;

self.onmessage = (event: MessageEvent<SliceRequest>) => {
  const { sources, now, cacheFile } = event.data;
  self.postMessage(...validateSlice(sources, new Date(now), cacheFile));
};

function validateSlice(sources: readonly CertificateSource[], now: Date, cacheFile: string | undefined): [SliceResult, ArrayBuffer[]] {
  const persistent = openPairCache(cacheFile);
  const judged: [string, SourceJudgement][] = [];
  const cache: PairCache = {
    judge(key, judge) {
      const judgement = persistent.judge(key, judge);
      judged.push([key, judgement]);
      return judgement;
    },
  };
  const results = sources.map((source) => validateSource(source, now, cache));
  const values = new Uint8Array(results.reduce((total, { validated }) => total + (validated.value?.length ?? 0), 0));
  let offset = 0;
  const spans: ([number, number] | undefined)[] = results.map(({ validated }) => {
    const value = validated.value;
    if (value === undefined) return undefined;
    values.set(value, offset);
    offset += value.length;
    return [offset - value.length, value.length];
  });
  const stripped = results.map(({ validated, problems }) => ({ validated: { ...validated, value: undefined }, problems }));
  return [{ results: stripped, spans, judged, values: values.buffer }, [values.buffer]];
}
