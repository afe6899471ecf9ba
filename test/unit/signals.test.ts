import { describe, expect, test } from "bun:test";
import { interruptionFor, listenForStopSignals, WaitInterrupted } from "../../src/signals.ts";

// The handlers are process-wide: the signals are delivered with process.emit, which runs the
// handlers without the kernel (a real SIGTERM would end the test run once they are removed).

describe("listenForStopSignals", () => {
  for (const [name, exitCode] of [
    ["SIGTERM", 143],
    ["SIGINT", 130],
  ] as const) {
    test(`${name}: aborted with exit ${exitCode}, received names it; the handlers go with stop()`, async () => {
      const before = process.listenerCount(name);
      const stop = listenForStopSignals();
      expect(process.listenerCount(name)).toBe(before + 1);
      process.emit(name);
      expect(await stop.received).toBe(name);
      expect(stop.signal.aborted).toBe(true);
      expect(stop.signal.reason).toBeInstanceOf(WaitInterrupted);
      expect((stop.signal.reason as WaitInterrupted).exitCode).toBe(exitCode);
      stop.stop();
      stop.stop();
      expect(process.listenerCount(name)).toBe(before);
    });
  }

  test("the first signal is the reason; a second changes nothing; `using` removes the handlers", async () => {
    const before = process.listenerCount("SIGTERM") + process.listenerCount("SIGINT");
    {
      using stop = listenForStopSignals();
      process.emit("SIGINT");
      process.emit("SIGTERM");
      expect(await stop.received).toBe("SIGINT");
      expect(stop.signal.reason).toEqual(interruptionFor("SIGINT"));
    }
    expect(process.listenerCount("SIGTERM") + process.listenerCount("SIGINT")).toBe(before);
  });
});
