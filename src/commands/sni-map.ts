import { defineCommand } from "../command.ts";
import {
  CACHE_FILE_OPTION,
  CONF_DIR_OPTION,
  DRY_RUN_OPTION,
  HOSTNAME_OPTION,
  LOCK_TIMEOUT_OPTION,
  MAIL_CONFIG_OPTION,
  SSL_DIR_OPTION,
  hostnameOrWarn,
} from "./shared-options.ts";

// The SNI engine and Postfix's tools are imported when the command runs (command.ts).

export const sniMapCommand = defineCommand({
  name: "sni-map",
  summary: "Build sni.map + sni.map.db from the certificate tree (default certificate always mapped)",
  options: {
    "ssl-dir": SSL_DIR_OPTION,
    "conf-dir": CONF_DIR_OPTION,
    hostname: HOSTNAME_OPTION,
    "cache-file": CACHE_FILE_OPTION,
    "dry-run": DRY_RUN_OPTION,
    "lock-timeout": LOCK_TIMEOUT_OPTION,
    "mail-config": MAIL_CONFIG_OPTION,
  },
  async run({ options, log, stdout, inherited }) {
    const { logNotes, logProblems, mapKeyForHostname, planSniMapOnAllCores, summarize } = await import("../sni/index.ts");
    const hostname = hostnameOrWarn(options.hostname, log);
    mapKeyForHostname(hostname); // a bad hostname is refused before the lock is taken
    if (options.dryRun) {
      const result = await planSniMapOnAllCores({ sslDir: options.sslDir, hostname, log });
      logNotes(result.notes, log);
      logProblems(result.problems, log);
      stdout(result.content);
      log.info(`sni-map --dry-run: ${summarize(result)}`);
      return 0;
    }
    const { withConfLock } = await import("../conf-lock.ts");
    const { createPostfixTools } = await import("../postfix/index.ts");
    const { cacheFileFor } = await import("../sni/cache.ts");
    const { updateSniMap } = await import("../sni/update.ts");
    const tools = createPostfixTools({ configDir: options.mailConfig, env: inherited });
    const { sslDir, confDir } = options;
    await withConfLock(confDir, log, options.lockTimeout, () =>
      updateSniMap({ tools, sslDir, confDir, hostname, log, cacheFile: cacheFileFor(confDir, options.cacheFile) }),
    );
    return 0;
  },
});
