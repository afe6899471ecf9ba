import { defineCommand, type CommandContext } from "../command.ts";
import { ENTRYPOINT_ENVIRONMENT, type Env } from "../env.ts";
import { UserError } from "../errors.ts";
import { realExec, type ExecFunction } from "../steps/exec-master.ts";
import { runHooks } from "../steps/hooks.ts";
import { interruptionFor, listenForStopSignals } from "../signals.ts";
import { applyLegacyTls } from "../steps/openssl-legacy.ts";
import { selectSyslogNgConfig } from "../steps/syslog-ng.ts";
import { CONF_DIR_OPTION, pathOption } from "./shared-options.ts";

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

export async function runEntrypoint(
  context: CommandContext<typeof ENTRYPOINT_OPTIONS, { redisSlaveofIp?: string }>,
  deps: EntrypointDeps,
): Promise<number> {
  const { options, log } = context;
  const [command, ...args] = context.rest;
  const path = resolveCommand(command!, context.inherited);
  if (!path) throw new UserError(`entrypoint: command \`${command}\` not found on PATH`, 127);

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
  deps.exec(path, [command!, ...args], context.inherited);
  return 0; // only reached with a test double for exec
}

export function createEntrypointCommand(deps: EntrypointDeps) {
  return defineCommand({
    name: "entrypoint",
    summary: "Container entrypoint: run /hooks, pick the syslog-ng config, OpenSSL legacy TLS, then exec CMD",
    options: ENTRYPOINT_OPTIONS,
    environment: ENTRYPOINT_ENVIRONMENT,
    rest: {
      name: "CMD [ARGS...]",
      description: "the program to become, e.g. /usr/bin/supervisord -c /etc/supervisor/supervisord.conf",
      required: true,
    },
    run: (context) => runEntrypoint(context, deps),
  });
}

export const entrypointCommand = createEntrypointCommand({ exec: realExec });
