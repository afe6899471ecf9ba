import { defineCommand, type CommandContext } from "../command.ts";
import type { Env } from "../env.ts";
import { UserError } from "../errors.ts";
import type { ExecFunction } from "../steps/exec-master.ts";
import { interruptionFor, listenForStopSignals } from "../signals.ts";
import { CONF_DIR_OPTION, MAILCOW_VARIABLES, pathOption } from "./shared-options.ts";

// `entrypoint CMD [ARGS...]`: mailcow's /docker-entrypoint.sh (hooks, syslog-ng config,
// OpenSSL legacy TLS), then exec CMD (supervisord) in this process. The steps and the
// environment's schema are imported when it runs (command.ts).

export interface EntrypointDeps {
  exec: ExecFunction;
}

/** CMD as execve needs it: a path, found on PATH when it has no slash. */
export function resolveCommand(command: string, env: Env): string | undefined {
  if (command.includes("/")) return command;
  return Bun.which(command, { PATH: env.PATH ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" }) ?? undefined;
}

const ENTRYPOINT_OPTIONS = {
  "hooks-dir": pathOption("Executables run in name order before CMD", "MPI_HOOKS_DIR", "/hooks"),
  "hook-timeout": {
    type: "seconds",
    description: "Kill a hook still running after this long (default: no limit)",
    env: "MPI_HOOK_TIMEOUT",
  },
  "syslog-ng-dir": pathOption("syslog-ng config dir", "MPI_SYSLOG_NG_DIR", "/etc/syslog-ng"),
  "openssl-cnf": pathOption("System OpenSSL config", "MPI_OPENSSL_CNF", "/etc/ssl/openssl.cnf", "FILE"),
  "conf-dir": CONF_DIR_OPTION,
} as const;

/** `deps` replaces the real exec (tests). */
export async function runEntrypoint(
  context: CommandContext<typeof ENTRYPOINT_OPTIONS, { redisSlaveofIp?: string }>,
  deps?: EntrypointDeps,
): Promise<number> {
  const { options, log } = context;
  const [command, ...args] = context.rest;
  const path = resolveCommand(command!, context.inherited);
  if (!path) throw new UserError(`entrypoint: command \`${command}\` not found on PATH`, 127);
  const { runHooks } = await import("../steps/hooks.ts");
  const { selectSyslogNgConfig } = await import("../steps/syslog-ng.ts");
  const { applyLegacyTls } = await import("../steps/openssl-legacy.ts");
  const exec = deps?.exec ?? (await import("../steps/exec-master.ts")).realExec;

  // SIGTERM/SIGINT during the hooks end them (and all they started), then us: no orphans.
  {
    using stopSignals = listenForStopSignals();
    const interrupted = stopSignals.received.then((name) => Promise.reject(interruptionFor(name)));
    interrupted.catch(() => {});
    const hooks = runHooks(options.hooksDir, context.inherited, log, options.hookTimeout, stopSignals.signal);
    await Promise.race([hooks, interrupted]);
    if (stopSignals.signal.aborted) {
      await hooks.catch(() => {});
      await interrupted;
    }
  }
  selectSyslogNgConfig(options.syslogNgDir, context.environment.redisSlaveofIp, log);
  applyLegacyTls(options.confDir, options.opensslCnf, log);

  log.info(`exec ${[command, ...args].join(" ")}`);
  exec(path, [command!, ...args], context.inherited);
  return 0; // only reached with a test double for exec
}

export function createEntrypointCommand(deps?: EntrypointDeps) {
  return defineCommand({
    name: "entrypoint",
    summary: "Container entrypoint: run /hooks, pick the syslog-ng config, OpenSSL legacy TLS, then exec CMD",
    options: ENTRYPOINT_OPTIONS,
    environment: {
      variables: { REDIS_SLAVEOF_IP: MAILCOW_VARIABLES.REDIS_SLAVEOF_IP },
      parse: async (env) => (await import("../env.ts")).parseEntrypointEnv(env),
    },
    rest: {
      name: "CMD [ARGS...]",
      description: "the program to become, e.g. /usr/bin/supervisord -c /etc/supervisor/supervisord.conf",
      required: true,
    },
    run: (context) => runEntrypoint(context, deps),
  });
}

export const entrypointCommand = createEntrypointCommand();
