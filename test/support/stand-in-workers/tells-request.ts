// A validation worker that takes no batch and tells what it was asked: the request's fields,
// the sources counted, written as JSON beside the request's cache file (CACHE_FILE.request);
// then "done". The main thread validates every batch itself. Tests.
import { writeFileSync } from "node:fs";
import type { BatchRequest, WorkerMessage } from "../../../src/sni/validate-parallel.ts";

declare const self: Worker;
self.onmessage = (event: MessageEvent<BatchRequest>) => {
  const { sources, claims, ...asked } = event.data;
  writeFileSync(`${asked.cacheFile}.request`, JSON.stringify({ ...asked, sources: sources.length, claims: claims.byteLength }));
  self.postMessage({ kind: "done" } satisfies WorkerMessage);
};
