import type { Env } from "./env.ts";

// Becoming another program: process.execve, which Bun provides (same PID, stdio and tty kept;
// FACTS: queued stdout writes are lost at exec, so log.ts writes synchronously).

type Execve = (path: string, argv: string[], env: Record<string, string>) => never;

/**
 * Replace this process with PATH. Never returns; throws where the runtime has no execve, so a
 * command that must become another program never silently exits instead (under supervisord an
 * exit would stop the whole container).
 */
export function execInto(path: string, argv: string[], env: Env): never {
  const execve = (process as unknown as { execve?: Execve }).execve;
  if (!execve) throw new Error(`cannot exec ${path}: process.execve is not available in this runtime (build with Bun)`);
  return execve(path, argv, Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined)));
}
