// Worker side of validate-pool.ts: validate the pairs it is sent and post the reports back.
// Compiled in as a second entry point (see package.json `build` and Dockerfile.postfix).
import type { KeyPairFiles } from "./types.ts";
import { validatePair } from "./validate.ts";

declare const self: Worker;

self.onmessage = (event: MessageEvent<KeyPairFiles[]>) => {
  self.postMessage(event.data.map((pair) => validatePair(pair)));
  // One batch per worker: end this thread, so the main thread need not terminate() it.
  process.exit(0);
};
