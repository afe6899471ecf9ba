import type { Env } from "../env.ts";
import { UserError } from "../errors.ts";
import { execInto } from "../exec.ts";
import { libc } from "../libc.ts";
import type { Logger } from "../log.ts";
import { withoutSecrets } from "../secrets.ts";

// The last step: this process becomes Postfix's master (`master -s`, Postfix 3.4+, stays in
// the foreground). supervisord then supervises master itself: SIGTERM to this PID stops
// Postfix and all its children, and an exit is seen as one. `postfix start-fg` would leave
// an orphaned master when not PID 1.

export type ExecFunction = (path: string, argv: string[], env: Env) => never | void;

/** Postfix needs no secret (DBPASS, REDISPASS, SPAMHAUS_DQS_KEY, ...; secrets.ts) and nothing after us should inherit one. */
export function masterInvocation(masterPath: string, confDir: string, env: Env): { argv: string[]; env: Env } {
  return { argv: [masterPath, "-s", "-c", confDir], env: withoutSecrets(env) };
}

export function execMaster(masterPath: string, confDir: string, env: Env, log: Logger, exec: ExecFunction): void {
  const invocation = masterInvocation(masterPath, confDir, env);
  // Log lines are written synchronously (log.ts), so nothing is queued when the image is replaced.
  log.info(`starting Postfix: exec ${invocation.argv.join(" ")}`);
  exec(masterPath, invocation.argv, invocation.env);
}

/**
 * supervisord starts every program as a process-group leader (setpgrp). `master -s` calls
 * setsid(), which a group leader may not do, and dies with "fatal: unable to set session and
 * process group ID: Operation not permitted". Joining the parent's group first (same session,
 * so allowed) lets master's setsid() succeed. No-op when not a group leader or already a
 * session leader.
 */
export function leaveOwnProcessGroup(): void {
  const { getpgid, getsid, getppid, setpgid } = libc();
  if (getpgid(0) !== process.pid || getsid(0) === process.pid) return;
  if (setpgid(0, getpgid(getppid())) !== 0) {
    throw new UserError(
      "cannot leave this process group before starting Postfix (setpgid failed), and `master -s` cannot start as a process-group leader; run this command under supervisord or from a shell, not as a group leader whose parent is in another PID namespace",
    );
  }
}

/** Become PATH (exec.ts), out of supervisord's process group first; never returns on success. */
export const realExec: ExecFunction = (path, argv, env) => {
  leaveOwnProcessGroup();
  execInto(path, argv, env);
};
