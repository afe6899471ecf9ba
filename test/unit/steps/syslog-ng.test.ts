import { describe, expect, test } from "bun:test";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createMemoryLogger } from "../../../src/log.ts";
import { selectSyslogNgConfig } from "../../../src/steps/syslog-ng.ts";
import { tempDirs } from "../../support/fixture.ts";

const tempDir = tempDirs("mpi-syslog-ng-");

describe("syslog-ng config", () => {
  test("the Redis replica config replaces the default only with REDIS_SLAVEOF_IP", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "syslog-ng.conf"), "default\n", { mode: 0o640 });
    writeFileSync(join(dir, "syslog-ng-redis_slave.conf"), "replica\n");
    selectSyslogNgConfig(dir, undefined, createMemoryLogger());
    expect(readFileSync(join(dir, "syslog-ng.conf"), "utf8")).toBe("default\n");
    const log = createMemoryLogger();
    selectSyslogNgConfig(dir, "10.0.0.5", log);
    selectSyslogNgConfig(dir, "10.0.0.5", log);
    expect(readFileSync(join(dir, "syslog-ng.conf"), "utf8")).toBe("replica\n");
    expect(statSync(join(dir, "syslog-ng.conf")).mode & 0o777).toBe(0o640);
    // Said once: the second start finds it in place.
    expect(log.lines).toEqual([`mailcow-postfix-init: syslog-ng: using ${join(dir, "syslog-ng-redis_slave.conf")}`]);
  });

  test("a missing replica config is a warning, not a failure", () => {
    const log = createMemoryLogger();
    const dir = tempDir();
    selectSyslogNgConfig(dir, "10.0.0.5", log);
    expect(log.lines).toEqual([
      `mailcow-postfix-init: warning: REDIS_SLAVEOF_IP is set but ${join(dir, "syslog-ng-redis_slave.conf")} does not exist; keeping ${join(dir, "syslog-ng.conf")}`,
    ]);
  });
});
