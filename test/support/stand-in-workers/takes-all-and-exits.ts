// A validation worker that takes every batch left from the shared counter, then ends without
// answering (a crash after taking work): the batches it took must be validated by the main
// thread. Tests.
import type { BatchRequest } from "../../../src/sni/validate-parallel.ts";

declare const self: Worker;
self.onmessage = (event: MessageEvent<BatchRequest>) => {
  const { sources, claims, batch } = event.data;
  const taken = new Int32Array(claims);
  while (Atomics.add(taken, 0, 1) * batch < sources.length);
  process.exit(0);
};
