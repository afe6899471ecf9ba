import { expect, test } from "bun:test";
import { createMemoryLogger } from "../../../src/log.ts";
import { WaitInterrupted } from "../../../src/signals.ts";
import { waitUntilReady } from "../../../src/steps/wait.ts";

// docs/startup.md: what a wait says (the first error, progress, "ready after", the last error
// on one line), how it paces its attempts, and a signal that was already given. Found by
// mutation testing: wait.test.ts never read most of these lines.

const neverAborted = new AbortController().signal;

test("ready at the first attempt: silent; after failures: the first error, then how long it took", async () => {
  const quiet = createMemoryLogger();
  await waitUntilReady({ what: "database", log: quiet, signal: neverAborted, retryMs: 0, probe: async () => {} });
  expect(quiet.lines).toEqual([]);
  let clock = 1_000;
  let attempts = 0;
  const log = createMemoryLogger();
  await waitUntilReady({
    what: "database",
    log,
    signal: neverAborted,
    retryMs: 0,
    now: () => clock,
    probe: async () => {
      clock += 1_500;
      if (++attempts < 3) throw new Error(`refused \n  at line ${attempts}`);
    },
  });
  expect(log.lines).toEqual([
    "mailcow-postfix-init: waiting for database: refused | at line 1",
    "mailcow-postfix-init: database is ready after 4.5s",
  ]);
});

test("a probe that gives no words: 'not ready'; one cut by the deadline: 'no answer before the timeout'", async () => {
  const log = createMemoryLogger();
  const silent = waitUntilReady({
    what: "DNS",
    log,
    signal: neverAborted,
    retryMs: 20,
    timeoutMs: 200,
    probe: async () => {
      throw new Error("");
    },
  });
  await expect(silent).rejects.toThrow(/; last error: not ready$/);
  const hanging = waitUntilReady({
    what: "DNS",
    log: createMemoryLogger(),
    signal: neverAborted,
    retryMs: 20,
    timeoutMs: 200,
    probe: (signal) => new Promise((_, reject) => signal.addEventListener("abort", () => reject(new Error("aborted")), { once: true })),
  });
  await expect(hanging).rejects.toThrow(
    /^gave up waiting for DNS after 0\.\ds \(timeout 0\.2s\); last error: no answer before the timeout$/,
  );
});

test("attempts are paced by the retry time, and the last pause is cut to the timeout", async () => {
  const times: number[] = [];
  const started = Date.now();
  await waitUntilReady({
    what: "database",
    log: createMemoryLogger(),
    signal: neverAborted,
    retryMs: 300,
    timeoutMs: 10_000,
    probe: async () => {
      times.push(Date.now() - started);
      if (times.length < 3) throw new Error("down");
    },
  });
  expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(290);
  expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(290);
  // A retry time longer than what is left: the wait still ends at its timeout.
  const short = Date.now();
  await expect(
    waitUntilReady({
      what: "database",
      log: createMemoryLogger(),
      signal: neverAborted,
      retryMs: 60_000,
      timeoutMs: 400,
      probe: async () => {
        throw new Error("down");
      },
    }),
  ).rejects.toThrow(/^gave up waiting for database after 0\.\ds \(timeout 0\.4s\); last error: down$/);
  expect(Date.now() - short).toBeLessThan(2_000);
});

test("a signal given before the wait starts ends it before the first attempt", async () => {
  const controller = new AbortController();
  controller.abort(new Error("not a WaitInterrupted"));
  let attempts = 0;
  const error = await waitUntilReady({
    what: "database",
    log: createMemoryLogger(),
    signal: controller.signal,
    retryMs: 0,
    probe: async () => {
      attempts++;
    },
  }).catch((caught) => caught);
  expect(attempts).toBe(0);
  expect(error).toBeInstanceOf(WaitInterrupted);
  expect([error.message, error.exitCode]).toEqual(["interrupted by SIGTERM while waiting for database", 143]);
});
