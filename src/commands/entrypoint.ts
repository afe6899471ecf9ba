import type { CommandContext, CommandSpec, Env } from "../command.ts";
import { parseEntrypointEnv } from "../env.ts";
import { UserError } from "../errors.ts";
import type { ExecFunction } from "../steps/exec-master.ts";
import { realExec } from "../steps/exec-master.ts";
import { CONF_DIR_FLAG } from "../steps/flags.ts";
import { runHooks } from "../steps/hooks.ts";
import { interruptionFor } from "../steps/wait.ts";
import { applyLegacyTls } from "../steps/openssl-legacy.ts";
import { selectSyslogNgConfig } from "../steps/syslog-ng.ts";

// `entrypoint CMD [ARGS...]`: mailcow's /docker-entrypoint.sh (hooks, syslog-ng config,
// OpenSSL legacy TLS), then exec CMD (supervisord) in this process.

export interface EntrypointDeps {
  exec: ExecFunction;
}

/** CMD as execve needs it: a path, found on PATH when it has no slash. */
export function resolveCommand(command: string, env: Env): string | undefined {
  if (command.includes("/")) return command;
  return Bun.which(command, { PATH: env.PATH ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" }) ?? undefined;
}

export async function runEntrypoint(context: CommandContext, deps: EntrypointDeps): Promise<number> {
  const env = parseEntrypointEnv(context.env);
  const timeout = context.flags["hook-timeout"];
  let timeoutMs: number | undefined;
  if (typeof timeout === "string" && timeout !== "") {
    timeoutMs = Number(timeout) * 1000;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new UserError(`--hook-timeout / MPI_HOOK_TIMEOUT: expected a positive number of seconds, got \`${timeout}\``);
  }
  const [command, ...args] = context.rest;
  const path = resolveCommand(command!, context.env);
  if (!path) throw new UserError(`entrypoint: command \`${command}\` not found on PATH`, 127);

  // SIGTERM/SIGINT during the hooks end them (and all they started), then us: no orphans.
  const controller = new AbortController();
  let stopListening = () => {};
  const interrupted = new Promise<never>((_, reject) => {
    const onSignal = (name: "SIGTERM" | "SIGINT") => () => {
      controller.abort();
      reject(interruptionFor(name));
    };
    const term = onSignal("SIGTERM");
    const int = onSignal("SIGINT");
    process.once("SIGTERM", term);
    process.once("SIGINT", int);
    stopListening = () => {
      process.off("SIGTERM", term);
      process.off("SIGINT", int);
    };
  });
  interrupted.catch(() => {});
  try {
    const hooks = runHooks(String(context.flags["hooks-dir"]), context.env, context.log, timeoutMs, controller.signal);
    await Promise.race([hooks, interrupted]);
    if (controller.signal.aborted) {
      await hooks.catch(() => {});
      await interrupted;
    }
  } finally {
    stopListening();
  }
  selectSyslogNgConfig(String(context.flags["syslog-ng-dir"]), env.redisSlaveofIp, context.log);
  applyLegacyTls(String(context.flags["conf-dir"]), String(context.flags["openssl-cnf"]), context.log);

  context.log.info(`exec ${[command, ...args].join(" ")}`);
  const childEnv = Object.fromEntries(Object.entries(context.env).filter(([, value]) => value !== undefined));
  deps.exec(path, [command!, ...args], childEnv);
  return 0; // only reached with a test double for exec
}

export function createEntrypointCommand(deps: EntrypointDeps): CommandSpec {
  return {
    name: "entrypoint",
    summary: "Container entrypoint: run /hooks, pick the syslog-ng config, OpenSSL legacy TLS, then exec CMD",
    flags: {
      "hooks-dir": { type: "string", description: "Executables run in name order before CMD", env: "MPI_HOOKS_DIR", default: "/hooks", valueName: "DIR" },
      "hook-timeout": { type: "string", description: "Kill a hook still running after this many seconds (default: no limit)", env: "MPI_HOOK_TIMEOUT", valueName: "SECONDS" },
      "syslog-ng-dir": { type: "string", description: "syslog-ng config dir", env: "MPI_SYSLOG_NG_DIR", default: "/etc/syslog-ng", valueName: "DIR" },
      "openssl-cnf": { type: "string", description: "System OpenSSL config", env: "MPI_OPENSSL_CNF", default: "/etc/ssl/openssl.cnf", valueName: "FILE" },
      "conf-dir": CONF_DIR_FLAG,
    },
    rest: { name: "CMD [ARGS...]", description: "the program to become, e.g. /usr/bin/supervisord -c /etc/supervisor/supervisord.conf", required: true },
    run: (context) => runEntrypoint(context, deps),
  };
}

export const entrypointCommand: CommandSpec = createEntrypointCommand({ exec: realExec });
