import { stringFlag, type CommandSpec } from "../command.ts";
import { withConfLock } from "../conf-lock.ts";
import { logProblems, mapKeyForHostname, planSniMapFromTree, summarize, updateSniMap } from "../sni/index.ts";
import { CACHE_FILE_FLAG, CONF_DIR_FLAG, HOSTNAME_FLAG, SSL_DIR_FLAG, cacheFileFromFlags, hostnameFromFlags } from "./sni-options.ts";

export const sniMapCommand: CommandSpec = {
  name: "sni-map",
  summary: "Build sni.map + sni.map.db from the certificate tree (default certificate always mapped)",
  flags: {
    "ssl-dir": SSL_DIR_FLAG,
    "conf-dir": CONF_DIR_FLAG,
    hostname: HOSTNAME_FLAG,
    "cache-file": CACHE_FILE_FLAG,
    "dry-run": { type: "boolean", description: "Print the map as it would be written; change nothing on disk" },
  },
  async run(context) {
    const sslDir = stringFlag(context, "ssl-dir");
    const hostname = hostnameFromFlags(context);
    mapKeyForHostname(hostname); // a bad hostname is refused before the lock is taken
    if (context.flags["dry-run"]) {
      const result = planSniMapFromTree({ sslDir, hostname });
      logProblems(result.problems, context.log);
      context.stdout(result.content);
      context.log.info(`sni-map --dry-run: ${summarize(result)}`);
      return 0;
    }
    const confDir = stringFlag(context, "conf-dir");
    const cacheFile = cacheFileFromFlags(context, confDir);
    await withConfLock(confDir, context.log, context.env, () => updateSniMap({ sslDir, confDir, hostname, log: context.log, cacheFile }));
    return 0;
  },
};
