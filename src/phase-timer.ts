// Where a start's time goes, for the one line `start` logs before the exec (and bench/start.ts
// reads): consecutive phases on the critical path, each the time since the previous mark.
// performance.now() counts from the process's start, so the first phase is the binary's own
// start-up (loading and module evaluation) before `start` ran at all.

export interface PhaseTimer {
  /** End the current phase under `name`. */
  mark(name: string): void;
  /** `290 ms, 200 ms without the waits (start-up 88, ...)`: phases whose name says "wait" are subtracted. */
  summary(): string;
}

export function createPhaseTimer(now: () => number = () => performance.now()): PhaseTimer {
  const phases: [string, number][] = [];
  let last = 0;
  return {
    mark(name) {
      const at = now();
      phases.push([name, at - last]);
      last = at;
    },
    summary() {
      const total = now();
      const waits = phases.filter(([name]) => name.includes("wait")).reduce((sum, [, ms]) => sum + ms, 0);
      const parts = phases.map(([name, ms]) => `${name} ${Math.round(ms)}`).join(", ");
      return `${Math.round(total)} ms, ${Math.round(total - waits)} ms without the waits (${parts})`;
    },
  };
}
