// When a burst of file events has settled. A renewal writes several files (cert.pem, key.pem,
// domains, a directory swapped by mv) within milliseconds; applying on the first event would
// judge half a renewal and apply twice. One timer at a time, armed only while events arrive:
// nothing runs while the tree is quiet.

export interface SettleOptions {
  /** Quiet time after the last event before `fire` runs. */
  quietMs: number;
  /** Longest delay after the first event of a burst: a writer that never pauses is still applied. */
  maxDelayMs: number;
  fire(): void;
  /** Injected for tests; Date.now otherwise. */
  now?: () => number;
}

export interface Settler {
  /** An event arrived. */
  poke(): void;
  /** Drop a pending burst (shutdown). */
  cancel(): void;
  readonly pending: boolean;
}

export function createSettler(options: SettleOptions): Settler {
  const now = options.now ?? Date.now;
  let firstEvent: number | undefined;
  let lastEvent = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  // Re-arming on every event would cost a timer operation per event (500 in a burst); the one
  // timer instead checks, when it fires, whether later events pushed the deadline back.
  const check = () => {
    timer = undefined;
    if (firstEvent === undefined) return;
    const due = dueAt(firstEvent, lastEvent, options);
    const wait = due - now();
    if (wait > 0) {
      timer = setTimeout(check, wait);
      return;
    }
    firstEvent = undefined;
    options.fire();
  };
  return {
    poke() {
      lastEvent = now();
      firstEvent ??= lastEvent;
      timer ??= setTimeout(check, options.quietMs);
    },
    cancel() {
      if (timer) clearTimeout(timer);
      timer = undefined;
      firstEvent = undefined;
    },
    get pending() {
      return firstEvent !== undefined;
    },
  };
}

/** When a burst that began at `first` and last moved at `last` is due. Pure. */
export function dueAt(first: number, last: number, options: Pick<SettleOptions, "quietMs" | "maxDelayMs">): number {
  return Math.min(last + options.quietMs, first + options.maxDelayMs);
}
