import { availableParallelism } from "node:os";
import type { KeyPairFiles, PairReport } from "./types.ts";
import { validatePair } from "./validate.ts";

// A cold start parses every private key, ~0.1 ms each for RSA-2048 in BoringSSL: 2,000
// certificate directories are 0.2 s on one core, the largest share of `sni-map` after postmap.
// Large sets are split between this thread and workers on the other cores; small ones, and any
// worker that cannot start or fails, are validated here, so the result never depends on workers.

/**
 * Where the worker's code is. In the compiled binary (`bun build --compile src/main.ts
 * src/sni/validate-worker.ts`) entry points are embedded under /$bunfs/root/ relative to src/,
 * and import.meta.url names the executable, not this file.
 */
const WORKER_URL = import.meta.url.startsWith("file:///$bunfs/")
  ? "/$bunfs/root/sni/validate-worker.ts"
  : new URL("./validate-worker.ts", import.meta.url).href;

/** Below this many pairs a worker's start-up (~20 ms) costs more than it saves. */
const MIN_PAIRS_PER_THREAD = 100;
const MAX_WORKERS = 3;

/** validatePair for each pair, in order, spread over the machine's cores when worth it. */
export async function validatePairs(pairs: readonly KeyPairFiles[], workerUrl: string = WORKER_URL): Promise<PairReport[]> {
  const workers = Math.min(availableParallelism() - 1, MAX_WORKERS, Math.floor(pairs.length / MIN_PAIRS_PER_THREAD) - 1);
  if (workers < 1) return pairs.map((pair) => validatePair(pair));
  const size = Math.ceil(pairs.length / (workers + 1));
  const chunks = Array.from({ length: workers + 1 }, (_, index) => pairs.slice(index * size, (index + 1) * size));
  const [own = [], ...others] = chunks;
  // Workers start first, so they run while this thread works through its own share.
  const pending = others.map((chunk) => validateInWorker(chunk, workerUrl));
  const mine = own.map((pair) => validatePair(pair));
  return [mine, ...(await Promise.all(pending))].flat();
}

function validateInWorker(pairs: readonly KeyPairFiles[], workerUrl: string): Promise<PairReport[]> {
  return new Promise((resolve) => {
    const fallback = () => resolve(pairs.map((pair) => validatePair(pair)));
    let worker: Worker;
    try {
      worker = new Worker(workerUrl);
    } catch {
      return fallback();
    }
    // The worker closes itself after answering; terminate() here would block this thread
    // (~50 ms measured) waiting for it. unref: it never keeps the process alive.
    worker.unref();
    worker.onmessage = (event: MessageEvent<PairReport[]>) => resolve(event.data);
    worker.onerror = () => {
      worker.terminate();
      fallback();
    };
    worker.postMessage(pairs);
  });
}
