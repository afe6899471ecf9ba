import type { Env } from "../command.ts";
import type { Logger } from "../log.ts";

// The last step: this process becomes Postfix's master (`master -s`, Postfix 3.4+, stays in
// the foreground). supervisord then supervises master itself: SIGTERM to this PID stops
// Postfix and all its children, and an exit is seen as one. `postfix start-fg` would leave
// an orphaned master when not PID 1.

export type ExecFunction = (path: string, argv: string[], env: Env) => never | void;

/** Variables Postfix does not need and nothing after us should inherit. */
const WITHHELD = ["DBPASS", "REDISPASS"];

export function masterInvocation(masterPath: string, confDir: string, env: Env): { argv: string[]; env: Env } {
  const childEnv = Object.fromEntries(Object.entries(env).filter(([name, value]) => value !== undefined && !WITHHELD.includes(name)));
  return { argv: [masterPath, "-s", "-c", confDir], env: childEnv };
}

export function execMaster(masterPath: string, confDir: string, env: Env, log: Logger, exec: ExecFunction): void {
  const invocation = masterInvocation(masterPath, confDir, env);
  // Log lines are written synchronously (log.ts), so nothing is queued when the image is replaced.
  log.info(`starting Postfix: exec ${invocation.argv.join(" ")}`);
  exec(masterPath, invocation.argv, invocation.env);
}

/** process.execve, which Bun provides; never returns on success. */
export const realExec: ExecFunction = (path, argv, env) => {
  const execve = (process as unknown as { execve?: (path: string, argv: string[], env: Env) => never }).execve;
  if (!execve) throw new Error("process.execve is not available in this runtime");
  execve(path, argv, env);
};
