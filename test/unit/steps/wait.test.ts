import { describe, expect, test } from "bun:test";
import { UserError } from "../../../src/errors.ts";
import { createMemoryLogger } from "../../../src/log.ts";
import { interruptionFor, WaitInterrupted } from "../../../src/signals.ts";
import { waitUntilReady } from "../../../src/steps/wait.ts";

const neverAborted = new AbortController().signal;

describe("waitUntilReady", () => {
  test("progress at least every 10 s with elapsed time and the last error, then ready", async () => {
    let clock = 0;
    let attempts = 0;
    const log = createMemoryLogger();
    await waitUntilReady({
      what: "database",
      log,
      signal: neverAborted,
      retryMs: 0,
      now: () => clock,
      probe: async () => {
        clock += 2_500;
        if (++attempts < 10) throw new Error(`refused #${attempts}`);
      },
    });
    expect(log.lines).toEqual([
      "mailcow-postfix-init: waiting for database: refused #1",
      "mailcow-postfix-init: still waiting for database (10.0s elapsed): refused #4",
      "mailcow-postfix-init: still waiting for database (20.0s elapsed): refused #8",
      "mailcow-postfix-init: database is ready after 25.0s",
    ]);
  });

  test("a timeout ends the wait with the last error", async () => {
    const started = Date.now();
    const wait = waitUntilReady({
      what: "DNS (x)",
      log: createMemoryLogger(),
      signal: neverAborted,
      retryMs: 50,
      timeoutMs: 300,
      probe: async () => {
        throw new Error("ETIMEOUT");
      },
    });
    expect(wait).rejects.toThrow(/^gave up waiting for DNS \(x\) after 0\.\ds \(timeout 0\.3s\); last error: ETIMEOUT$/);
    await wait.catch(() => {});
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  test("an injected clock does not turn the probe's real deadline off", async () => {
    let clock = 0;
    const started = Date.now();
    let abortedAfterMs: number | undefined;
    const wait = waitUntilReady({
      what: "database",
      log: createMemoryLogger(),
      signal: neverAborted,
      retryMs: 0,
      timeoutMs: 300,
      now: () => clock,
      // A probe blocked until its signal aborts (a connect() that never returns); the injected
      // clock stands still meanwhile, so only the real deadline can end it.
      probe: (signal) =>
        new Promise<void>((_, reject) => {
          const end = (message: string) => {
            clock = 10_000;
            reject(new Error(message));
          };
          // Without a deadline the probe would block forever: end it here, and fail below.
          const fallback = setTimeout(() => end("no deadline"), 3_000);
          signal.addEventListener(
            "abort",
            () => {
              abortedAfterMs = Date.now() - started;
              clearTimeout(fallback);
              end("aborted");
            },
            { once: true },
          );
        }),
    });
    expect(wait).rejects.toThrow("gave up waiting for database after 10.0s (timeout 0.3s)");
    await wait.catch(() => {});
    expect(abortedAfterMs).toBeGreaterThanOrEqual(250);
    expect(abortedAfterMs).toBeLessThan(1_500);
  });

  test("SIGTERM / SIGINT end the wait at once with 143 / 130", async () => {
    for (const [name, code] of [
      ["SIGTERM", 143],
      ["SIGINT", 130],
    ] as const) {
      const controller = new AbortController();
      const started = Date.now();
      setTimeout(() => controller.abort(interruptionFor(name)), 100);
      const error = await waitUntilReady({
        what: "database",
        log: createMemoryLogger(),
        signal: controller.signal,
        retryMs: 60_000,
        probe: async () => {
          throw new Error("down");
        },
      }).catch((caught) => caught);
      expect(error).toBeInstanceOf(WaitInterrupted);
      expect(error.exitCode).toBe(code);
      expect(error.message).toBe(`interrupted by ${name} while waiting for database`);
      expect(Date.now() - started).toBeLessThan(1_000);
    }
  });
});

test("UserError is what a timeout gives the CLI", async () => {
  const error = await waitUntilReady({
    what: "x",
    log: createMemoryLogger(),
    signal: neverAborted,
    retryMs: 1,
    timeoutMs: 1,
    probe: async () => {
      throw new Error("no");
    },
  }).catch((caught) => caught);
  expect(error).toBeInstanceOf(UserError);
  expect(error.exitCode).toBe(1);
});
