import { UserError } from "./errors.ts";

// SIGTERM and SIGINT: how supervisord, `docker stop` and an admin's Ctrl-C end us. Every
// command that reacts to them (start's waits, entrypoint's hooks, the watcher) listens through
// this one helper, so the exit codes (143, 130) and the removal of the handlers are the same.

export type StopSignalName = "SIGTERM" | "SIGINT";
const STOP_SIGNALS: readonly StopSignalName[] = ["SIGTERM", "SIGINT"];

/** Thrown when a signal ends a wait; exitCode 143 for SIGTERM, 130 for SIGINT. */
export class WaitInterrupted extends UserError {
  override name = "WaitInterrupted";
}

/** The reason an AbortSignal carries when a process signal interrupted us. */
export function interruptionFor(signalName: StopSignalName): WaitInterrupted {
  return new WaitInterrupted(`interrupted by ${signalName}`, signalName === "SIGTERM" ? 143 : 130);
}

export interface StopSignals extends Disposable {
  /** Aborted at the first SIGTERM or SIGINT, with interruptionFor(name) as its reason. */
  readonly signal: AbortSignal;
  /** Resolves with the name of the first one. */
  readonly received: Promise<StopSignalName>;
  /** Remove the handlers: the default actions (ending the process) apply again. Idempotent. */
  stop(): void;
}

/** Handle SIGTERM and SIGINT until `stop()` (or the end of a `using` scope). */
export function listenForStopSignals(): StopSignals {
  const controller = new AbortController();
  let resolveReceived: (name: StopSignalName) => void = () => {};
  const received = new Promise<StopSignalName>((resolve) => {
    resolveReceived = resolve;
  });
  const handlers = STOP_SIGNALS.map((name) => {
    const handler = () => {
      if (!controller.signal.aborted) controller.abort(interruptionFor(name));
      resolveReceived(name);
    };
    process.on(name, handler);
    return { name, handler };
  });
  const stop = () => {
    for (const { name, handler } of handlers) process.off(name, handler);
  };
  return { signal: controller.signal, received, stop, [Symbol.dispose]: stop };
}
