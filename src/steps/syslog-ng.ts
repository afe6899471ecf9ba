import { join } from "node:path";
import type { Logger } from "../log.ts";
import { readTextIfExists, writeIfChanged } from "./files.ts";

/** With REDIS_SLAVEOF_IP set, syslog-ng uses the config that logs to the Redis replica. */
export function selectSyslogNgConfig(dir: string, redisSlaveofIp: string | undefined, log: Logger): void {
  if (!redisSlaveofIp) return;
  const source = join(dir, "syslog-ng-redis_slave.conf");
  const content = readTextIfExists(source);
  if (content === undefined) {
    log.warn(`REDIS_SLAVEOF_IP is set but ${source} does not exist; keeping ${join(dir, "syslog-ng.conf")}`);
    return;
  }
  if (writeIfChanged(join(dir, "syslog-ng.conf"), content, { preserve: true })) log.info(`syslog-ng: using ${source}`);
}
