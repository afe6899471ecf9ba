import { expect, test } from "bun:test";
import { createMemoryLogger } from "../../../src/log.ts";
import { waitUntilReady } from "../../../src/steps/wait.ts";

// docs/startup.md: `--wait-timeout` ends a wait after that time, however its probes behave: a
// probe that hangs gets only what is left of the timeout, not the whole of it again.

test("a probe that hangs after a slow failure is cut at the wait's limit, not a whole timeout later", async () => {
  const TIMEOUT_MS = 2_000;
  let attempts = 0;
  const started = Date.now();
  const wait = waitUntilReady({
    what: "database",
    log: createMemoryLogger(),
    signal: new AbortController().signal,
    retryMs: 100,
    timeoutMs: TIMEOUT_MS,
    probe: (signal) =>
      new Promise<void>((_, reject) => {
        // First attempt: refused after 1.2 s. Then a connect() that never returns until aborted.
        if (++attempts === 1) return void setTimeout(() => reject(new Error("refused")), 1_200);
        signal.addEventListener("abort", () => reject(new Error("aborted")), { once: true });
      }),
  });
  await expect(wait).rejects.toThrow(/^gave up waiting for database after/);
  const took = Date.now() - started;
  expect(attempts).toBe(2);
  expect(took).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
  // Whole-timeout probes would end at ~3.3 s; the margin absorbs a loaded machine's timers.
  expect(took).toBeLessThan(TIMEOUT_MS + 800);
});
