import { ignoreBrokenPipes } from "../libc.ts";
import type { Logger } from "../log.ts";
import { createApplier, type Applier, type ApplierOptions } from "./applier.ts";
import { watchCertificateTree } from "./tree.ts";

// The watch loop's edges: inotify events, signals and timers become calls to the applier
// (applier.ts), which owns every piece of state and timing: events -> settle -> sync the
// watches -> plan -> (a bounded wait while a changed pair does not load yet) -> write when the
// table differs -> postfix reload, a failed apply retried with a backoff. Only timers armed
// by an event, a failure or a date exist, so an idle watcher sleeps in the kernel.

export type WatcherOptions = Omit<ApplierOptions, "beforeApply">;

export interface Watcher {
  /** Apply now (SIGHUP). */
  applyNow(): void;
  /** Finish the apply under way, if any, and remove every watch and timer. */
  stop(): Promise<void>;
  /** Directories watched. */
  readonly watches: number;
}

export function startWatcher(options: WatcherOptions): Watcher {
  let applier: Applier | undefined;
  const tree = watchCertificateTree(options.sslDir, (dir) => applier?.changed(dir), options.log);
  applier = createApplier({ ...options, beforeApply: () => tree.sync() });
  applier.applyNow();
  options.log.info(`watch: watching ${options.sslDir} with inotify (${tree.count} directories)`);
  return {
    applyNow: () => applier.applyNow(),
    async stop() {
      await applier.stop();
      tree.close();
    },
    get watches() {
      return tree.count;
    },
  };
}

/**
 * What the signals other than SIGTERM and SIGINT (src/signals.ts: stop after the apply under
 * way) do to the watcher: see docs/watch.md ("Signals"). It must not end on a signal an admin
 * or a tool may send: in mailcow's image supervisord's event listener takes the whole
 * container down when a program exits.
 */
export const OTHER_SIGNALS = {
  SIGHUP: "apply",
  SIGQUIT: "ignore",
  SIGUSR1: "ignore",
  SIGUSR2: "ignore",
  SIGPIPE: "ignore",
  SIGALRM: "ignore",
  SIGVTALRM: "ignore",
  SIGPROF: "ignore",
  SIGXCPU: "ignore",
  SIGXFSZ: "ignore",
  SIGIO: "ignore",
  SIGTSTP: "ignore",
  SIGTTIN: "ignore",
  SIGTTOU: "ignore",
} as const satisfies Partial<Record<NodeJS.Signals, "apply" | "ignore">>;

/** Install the handlers of OTHER_SIGNALS until the returned value is disposed. */
export function handleOtherSignals(watcher: Pick<Watcher, "applyNow">, log: Logger): Disposable {
  const handlers = (Object.entries(OTHER_SIGNALS) as [NodeJS.Signals, string][]).map(([name, action]) => {
    const handler =
      action === "apply"
        ? () => {
            log.info(`watch: ${name}: applying the certificates on disk now`);
            watcher.applyNow();
          }
        : () => log.info(`watch: ${name} ignored (SIGHUP applies now, SIGTERM stops)`);
    process.on(name, handler);
    return { name, handler };
  });
  return {
    [Symbol.dispose]() {
      for (const { name, handler } of handlers) process.off(name, handler);
      // Without a listener Bun leaves SIGPIPE at its default (the end of the process): ignored again, as Bun starts.
      ignoreBrokenPipes();
    },
  };
}
