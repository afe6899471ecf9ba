import { accessSync, constants, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Env } from "../env.ts";
import { execaModule } from "../execa.ts";
import type { Logger } from "../log.ts";
import { becomeSubreaper, descendantsOf, killNewDescendants } from "../process-tree.ts";

// Admins' /hooks scripts run before anything else, in name order. As in mailcow's entrypoint a
// failing hook is reported and the start goes on; each exit status is logged, and an optional timeout
// ends a hook that hangs (its whole process group), instead of blocking the container forever.

export interface HookResult {
  path: string;
  exitCode?: number;
  signal?: string;
  timedOut: boolean;
}

/** Executable regular files directly in `dir`, byte-order sorted like the C-locale glob. */
export function listHooks(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return []; // no hooks dir: nothing to run
  }
  return names
    .filter((name) => !name.startsWith("."))
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
    .map((name) => join(dir, name))
    .filter((path) => {
      try {
        accessSync(path, constants.X_OK);
        return statSync(path).isFile();
      } catch {
        return false;
      }
    });
}

export async function runHooks(dir: string, env: Env, log: Logger, timeoutMs?: number, signal?: AbortSignal): Promise<HookResult[]> {
  const results: HookResult[] = [];
  const hooks = listHooks(dir);
  // Orphans of a hook (setsid'd daemons) become our children, so a timeout or SIGTERM reaches them.
  if (hooks.length > 0) becomeSubreaper();
  for (const path of hooks) {
    if (signal?.aborted) break;
    log.info(`running hook ${path}`);
    const result = await runHook(path, env, timeoutMs, signal);
    results.push(result);
    if (result.timedOut) log.error(`hook ${path} did not finish within ${timeoutMs! / 1000}s and was killed; continuing`);
    else if (result.exitCode === 0) log.info(`hook ${path} finished (exit 0)`);
    else log.error(`hook ${path} failed (${result.signal ? `killed by ${result.signal}` : `exit ${result.exitCode}`}); continuing`);
  }
  return results;
}

async function runHook(path: string, env: Env, timeoutMs?: number, signal?: AbortSignal): Promise<HookResult> {
  // What ran before this hook (daemons earlier hooks left on purpose) is not this hook's to end.
  const earlier = new Set(descendantsOf(process.pid));
  // Own process group, so a timeout also ends whatever the hook started.
  const { execa } = await execaModule();
  const child = execa(path, [], { stdio: "inherit", env, extendEnv: false, detached: true, reject: false });
  let timedOut = false;
  const killGroup = (signal: NodeJS.Signals) => {
    try {
      if (child.pid) process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  };
  let forceTimer: ReturnType<typeof setTimeout> | undefined;
  const timer =
    timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          killGroup("SIGTERM");
          forceTimer = setTimeout(() => killGroup("SIGKILL"), 5_000);
        }, timeoutMs);
  // SIGTERM to us while a hook runs: the hook and everything it started end too.
  const onAbort = () => {
    killGroup("SIGKILL");
    killNewDescendants(earlier);
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  const result = await child;
  signal?.removeEventListener("abort", onAbort);
  clearTimeout(timer);
  clearTimeout(forceTimer);
  if (timedOut || signal?.aborted) {
    killGroup("SIGKILL"); // leftovers that ignored SIGTERM
    killNewDescendants(earlier); // and those that left the group (setsid)
  }
  return { path, exitCode: result.exitCode, signal: result.signal, timedOut };
}
