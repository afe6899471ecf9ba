import type { CommandContext, CommandSpec, FlagSpec } from "../command.ts";
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
  },
  async run(context) {
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

function millisecondsFlag(context: CommandContext, name: string): number {
  const raw = stringFlag(context, name);
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value)) throw new UserError(`--${name}: expected a whole number of milliseconds, got \`${raw}\``);
  return value;
}
