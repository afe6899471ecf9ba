import { defineCommand } from "../command.ts";
import { UserError } from "../errors.ts";
import { execInto } from "../exec.ts";
import { listenForStopSignals } from "../signals.ts";
import {
  CACHE_FILE_OPTION,
  CONF_DIR_OPTION,
  HOSTNAME_OPTION,
  LOCK_TIMEOUT_OPTION,
  MAIL_CONFIG_OPTION,
  SSL_DIR_OPTION,
  hostnameOrWarn,
} from "./shared-options.ts";

// `watch`: runs beside Postfix (a supervisord program in the image) and applies certificates
// as they change on disk, as `reload` would, without a restart: see src/watch/. The watcher,
// the SNI engine and Postfix's tools are imported when it runs and is enabled (command.ts).

const SLEEP = "/bin/sleep";

export const watchCommand = defineCommand({
  name: "watch",
  summary: "Apply changed certificates as they land (inotify): rebuild sni.map.db, `postfix reload` when it changed",
  options: {
    "ssl-dir": SSL_DIR_OPTION,
    "conf-dir": CONF_DIR_OPTION,
    hostname: HOSTNAME_OPTION,
    "cache-file": CACHE_FILE_OPTION,
    "lock-timeout": LOCK_TIMEOUT_OPTION,
    "mail-config": MAIL_CONFIG_OPTION,
    debounce: {
      type: "seconds",
      env: "MPI_WATCH_DEBOUNCE",
      default: "0.25",
      description: "Quiet time after the last change before applying",
    },
    "max-delay": {
      type: "seconds",
      env: "MPI_WATCH_MAX_DELAY",
      default: "2",
      description: "Longest wait after the first change of a burst",
    },
    "pair-wait": {
      type: "seconds",
      env: "MPI_WATCH_PAIR_WAIT",
      default: "3",
      description: "How long a changed key and certificate that do not load together are waited for",
    },
    enabled: {
      type: "string",
      valueName: "y|n",
      env: "MPI_WATCH",
      default: "y",
      description: "n: do not watch (certificates then apply at the next restart or with `reload`)",
    },
  },
  async run({ options, log, inherited }) {
    if (!isEnabled(options.enabled)) {
      // supervisord's event listener in mailcow's image stops the whole container when any
      // program exits, so a disabled watcher must stay: as `sleep`, which never wakes and
      // holds a fraction of a JavaScript runtime's memory.
      log.info("watch: disabled (MPI_WATCH=n); changed certificates apply at the next restart or with `mailcow-postfix-init reload`");
      execInto(SLEEP, [SLEEP, "infinity"], inherited);
    }
    const { createPostfixTools } = await import("../postfix/index.ts");
    const { mapKeyForHostname } = await import("../sni/index.ts");
    const { cacheFileFor } = await import("../sni/cache.ts");
    const { handleOtherSignals, startWatcher } = await import("../watch/watcher.ts");
    const { confDir } = options;
    const hostname = hostnameOrWarn(options.hostname, log);
    mapKeyForHostname(hostname); // a bad hostname is refused before anything is watched
    const watcher = startWatcher({
      tools: createPostfixTools({ configDir: options.mailConfig, env: inherited }),
      sslDir: options.sslDir,
      confDir,
      hostname,
      cacheFile: cacheFileFor(confDir, options.cacheFile),
      log,
      lockTimeoutMs: options.lockTimeout,
      quietMs: options.debounce,
      maxDelayMs: options.maxDelay,
      pairWaitMs: options.pairWait,
    });
    // SIGHUP applies now, the other signals whose default would end us are ignored (watcher.ts);
    // SIGTERM and SIGINT stop us after the apply under way.
    using _otherSignals = handleOtherSignals(watcher, log);
    const stopSignals = listenForStopSignals();
    const signal = await stopSignals.received;
    // A second signal while the apply under way finishes ends us at once (a private copy of
    // the keys is removed first: sni/private-copy.ts).
    stopSignals.stop();
    log.info(`watch: ${signal}: finishing the apply under way, then stopping`);
    await watcher.stop();
    return 0;
  },
});

function isEnabled(raw: string): boolean {
  const value = raw.toLowerCase();
  if (value === "y" || value === "yes") return true;
  if (value === "n" || value === "no") return false;
  throw new UserError(`--enabled (MPI_WATCH in mailcow.conf): expected y or n, got \`${raw}\``);
}
