import type { CommandContext, CommandSpec, Env, FlagSpec } from "../command.ts";
import { stringFlag } from "../command.ts";
import { UserError } from "../errors.ts";
import { mapKeyForHostname } from "../sni/index.ts";
import { startWatcher } from "../watch/watcher.ts";
import { CACHE_FILE_FLAG, CONF_DIR_FLAG, HOSTNAME_FLAG, SSL_DIR_FLAG, cacheFileFromFlags, hostnameFromFlags } from "./sni-options.ts";

// `watch`: runs beside Postfix (a supervisord program in the image) and applies certificates
// as they change on disk, as `reload` would, without a restart: see src/watch/.

const milliseconds = (description: string, env: string, fallback: number): FlagSpec => ({ type: "string", valueName: "MS", env, default: String(fallback), description });

export const watchCommand: CommandSpec = {
  name: "watch",
  summary: "Apply changed certificates as they land (inotify): rebuild sni.map.db, `postfix reload` when it changed",
  flags: {
    "ssl-dir": SSL_DIR_FLAG,
    "conf-dir": CONF_DIR_FLAG,
    hostname: HOSTNAME_FLAG,
    "cache-file": CACHE_FILE_FLAG,
    debounce: milliseconds("Quiet time after the last change before applying", "MPI_WATCH_DEBOUNCE_MS", 250),
    "max-delay": milliseconds("Longest wait after the first change of a burst", "MPI_WATCH_MAX_DELAY_MS", 2_000),
    "pair-wait": milliseconds("How long a changed key and certificate that do not load together are waited for", "MPI_WATCH_PAIR_WAIT_MS", 3_000),
    enabled: { type: "string", valueName: "y|n", env: "MPI_WATCH", default: "y", description: "n: do not watch (certificates then apply at the next restart or with `reload`)" },
  },
  async run(context) {
    if (!enabledFlag(context)) {
      // supervisord's event listener in mailcow's image stops the whole container when any
      // program exits, so a disabled watcher must stay: as `sleep`, which never wakes and
      // holds ~1 MB instead of a JavaScript runtime.
      context.log.info("watch: disabled (MPI_WATCH=n); changed certificates apply at the next restart or with `mailcow-postfix-init reload`");
      const execve = (process as unknown as { execve?: (path: string, argv: string[], env: Env) => never }).execve;
      execve?.(SLEEP, [SLEEP, "infinity"], context.env);
      return 0;
    }
    const confDir = stringFlag(context, "conf-dir");
    const hostname = hostnameFromFlags(context);
    mapKeyForHostname(hostname); // a bad hostname is refused before anything is watched
    const watcher = startWatcher({
      sslDir: stringFlag(context, "ssl-dir"),
      confDir,
      hostname,
      cacheFile: cacheFileFromFlags(context, confDir),
      log: context.log,
      env: context.env,
      quietMs: millisecondsFlag(context, "debounce"),
      maxDelayMs: millisecondsFlag(context, "max-delay"),
      pairWaitMs: millisecondsFlag(context, "pair-wait"),
    });
    const signal = await new Promise<string>((resolve) => {
      for (const name of ["SIGTERM", "SIGINT"] as const) process.once(name, () => resolve(name));
    });
    context.log.info(`watch: ${signal}: finishing the apply under way, then stopping`);
    await watcher.stop();
    return 0;
  },
};

const SLEEP = "/bin/sleep";

function enabledFlag(context: CommandContext): boolean {
  const raw = stringFlag(context, "enabled").toLowerCase();
  if (raw === "y" || raw === "yes") return true;
  if (raw === "n" || raw === "no") return false;
  throw new UserError(`--enabled (MPI_WATCH in mailcow.conf): expected y or n, got \`${raw}\``);
}

function millisecondsFlag(context: CommandContext, name: string): number {
  const raw = stringFlag(context, name);
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value)) throw new UserError(`--${name}: expected a whole number of milliseconds, got \`${raw}\``);
  return value;
}
