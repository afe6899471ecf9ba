import { defineCommand } from "../command.ts";
import { withConfLock } from "../conf-lock.ts";
import { createPostfixTools } from "../postfix/index.ts";
import { logNotes, logProblems, mapKeyForHostname, planSniMapOnAllCores, summarize } from "../sni/index.ts";
import { updateSniMap } from "../sni/update.ts";
import {
  CACHE_FILE_OPTION,
  CONF_DIR_OPTION,
  DRY_RUN_OPTION,
  HOSTNAME_OPTION,
  LOCK_TIMEOUT_OPTION,
  MAIL_CONFIG_OPTION,
  SSL_DIR_OPTION,
  cacheFile,
  hostnameOrWarn,
} from "./shared-options.ts";

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
    const tools = createPostfixTools({ configDir: options.mailConfig, env: inherited });
    const { sslDir, confDir } = options;
    await withConfLock(confDir, log, options.lockTimeout, () =>
      updateSniMap({ tools, sslDir, confDir, hostname, log, cacheFile: cacheFile(options, confDir) }),
    );
    return 0;
  },
});
