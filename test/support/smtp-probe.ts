import { run, type Engine } from "./docker.ts";

// SMTP availability while something runs (mailcow's update.sh): a connect to 127.0.0.1:25 in
// the network namespace of the container that owns it, every 100 ms, each attempt counting as
// up when the server's first line is a 220 banner. The namespace's owner is looked up again
// whenever an attempt fails, so a recreated container is followed.

const ATTEMPT = 'exec 3<>/dev/tcp/127.0.0.1/25 && read -r -t 2 line <&3 && printf "%s" "$line"';

export interface Availability {
  attempts: number;
  up: number;
  /** Longest stretch without a banner: from the last answered attempt before to the first after. */
  longestOutageMs: number;
  /** All such stretches added up, and how many there were. */
  totalOutageMs: number;
  outages: number;
  /** Each stretch, from and to, on the samples' clock (the probe's: epoch milliseconds). */
  windows: { from: number; to: number }[];
}

export class BannerProbe {
  private samples: { at: number; up: boolean }[] = [];
  private running = true;
  private loop: Promise<void>;

  /** Start probing in the namespace of CONTAINER (a name: it survives recreation). */
  constructor(
    private readonly engine: Engine,
    private readonly container: string,
  ) {
    this.loop = this.probe();
  }

  private async probe(): Promise<void> {
    let pid: string | undefined;
    while (this.running) {
      const started = performance.now();
      // Epoch milliseconds, to set outages against the engine's timestamps (a container's start).
      const at = performance.timeOrigin + started;
      if (!pid) {
        const inspect = await this.engine.docker(["inspect", "--format", "{{.State.Pid}}", this.container], {
          allowFailure: true,
          timeoutMs: 5_000,
        });
        pid = inspect.exitCode === 0 && inspect.stdout.trim() !== "0" ? inspect.stdout.trim() : undefined;
      }
      let up = false;
      if (pid) {
        const attempt = await run(["nsenter", "-t", pid, "-n", "bash", "-c", ATTEMPT], { allowFailure: true, timeoutMs: 3_000 });
        up = attempt.exitCode === 0 && attempt.stdout.startsWith("220");
        if (!up) pid = undefined;
      }
      this.samples.push({ at, up });
      await Bun.sleep(Math.max(0, 100 - (performance.now() - started)));
    }
  }

  async stop(): Promise<Availability> {
    this.running = false;
    await this.loop;
    return availability(this.samples);
  }
}

/**
 * Pure: attempts in time order -> availability. An outage runs from the last answered attempt
 * before it to the first answered one after it (or to the last attempt, if none answered).
 */
export function availability(samples: readonly { at: number; up: boolean }[]): Availability {
  const windows: { from: number; to: number }[] = [];
  let lastUp: number | undefined;
  let down = false;
  for (const sample of samples) {
    if (!sample.up) down = true;
    else {
      if (down && lastUp !== undefined) windows.push({ from: lastUp, to: sample.at });
      lastUp = sample.at;
      down = false;
    }
  }
  const last = samples.at(-1);
  if (down && last && lastUp !== undefined) windows.push({ from: lastUp, to: last.at });
  const outages = windows.map((window) => window.to - window.from);
  return {
    attempts: samples.length,
    up: samples.filter((sample) => sample.up).length,
    longestOutageMs: Math.round(Math.max(0, ...outages)),
    totalOutageMs: Math.round(outages.reduce((sum, ms) => sum + ms, 0)),
    outages: outages.length,
    windows,
  };
}
