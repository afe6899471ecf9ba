import type { CommandSpec } from "../command.ts";
import { stringFlag } from "../command.ts";
import { withConfLock } from "../conf-lock.ts";
import { postfixReload } from "../postfix.ts";
import { mapKeyForHostname, updateSniMap } from "../sni/index.ts";
import { CACHE_FILE_FLAG, CONF_DIR_FLAG, HOSTNAME_FLAG, SSL_DIR_FLAG, cacheFileFromFlags, hostnameFromFlags } from "./sni-options.ts";

// `reload`: after a certificate renewal. Certificates are embedded in sni.map.db, so the map
// must be rebuilt before `postfix reload`, or Postfix keeps serving the old ones.

export const reloadCommand: CommandSpec = {
  name: "reload",
  summary: "Rebuild sni.map(.db) from the certificates, then `postfix reload`",
  flags: {
    "conf-dir": CONF_DIR_FLAG,
    "ssl-dir": SSL_DIR_FLAG,
    hostname: HOSTNAME_FLAG,
    "cache-file": CACHE_FILE_FLAG,
  },
  async run(context) {
    const confDir = stringFlag(context, "conf-dir");
    const hostname = hostnameFromFlags(context);
    mapKeyForHostname(hostname); // a bad hostname is refused before the lock is taken
    // On failure updateSniMap throws and leaves the previous map pair in place; no reload then.
    const cacheFile = cacheFileFromFlags(context, confDir);
    await withConfLock(confDir, context.log, context.env, async () => {
      await updateSniMap({ sslDir: stringFlag(context, "ssl-dir"), confDir, hostname, log: context.log, cacheFile });
      await postfixReload(confDir, context.log);
    });
    context.log.info("Postfix reloaded with the new SNI map");
    return 0;
  },
};
