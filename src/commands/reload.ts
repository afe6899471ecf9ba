import { defineCommand } from "../command.ts";
import {
  CACHE_FILE_OPTION,
  CONF_DIR_OPTION,
  HOSTNAME_OPTION,
  LOCK_TIMEOUT_OPTION,
  MAIL_CONFIG_OPTION,
  SSL_DIR_OPTION,
  hostnameOrWarn,
} from "./shared-options.ts";

// `reload`: after a certificate renewal. Certificates are embedded in sni.map.db, so the map
// must be rebuilt before `postfix reload`, or Postfix keeps serving the old ones. The SNI
// engine and Postfix's tools are imported when it runs (command.ts).

export const reloadCommand = defineCommand({
  name: "reload",
  summary: "Rebuild sni.map(.db) from the certificates, then `postfix reload`",
  options: {
    "conf-dir": CONF_DIR_OPTION,
    "ssl-dir": SSL_DIR_OPTION,
    hostname: HOSTNAME_OPTION,
    "cache-file": CACHE_FILE_OPTION,
    "lock-timeout": LOCK_TIMEOUT_OPTION,
    "mail-config": MAIL_CONFIG_OPTION,
  },
  async run({ options, log, inherited }) {
    const { withConfLock } = await import("../conf-lock.ts");
    const { createPostfixTools, postfixReload } = await import("../postfix/index.ts");
    const { mapKeyForHostname } = await import("../sni/index.ts");
    const { cacheFileFor } = await import("../sni/cache.ts");
    const { updateSniMap } = await import("../sni/update.ts");
    const { confDir, sslDir } = options;
    const hostname = hostnameOrWarn(options.hostname, log);
    mapKeyForHostname(hostname); // a bad hostname is refused before the lock is taken
    const tools = createPostfixTools({ configDir: options.mailConfig, env: inherited });
    // On failure updateSniMap throws and leaves the previous map pair in place; no reload then.
    await withConfLock(confDir, log, options.lockTimeout, async () => {
      await updateSniMap({ tools, sslDir, confDir, hostname, log, cacheFile: cacheFileFor(confDir, options.cacheFile) });
      await postfixReload(tools, confDir, log);
    });
    log.info("Postfix reloaded with the new SNI map");
    return 0;
  },
});
