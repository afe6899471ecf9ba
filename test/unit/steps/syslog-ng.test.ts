import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createMemoryLogger } from "../../../src/log.ts";
import { selectSyslogNgConfig } from "../../../src/steps/syslog-ng.ts";
import { tempDirs } from "../../support/fixture.ts";

const tempDir = tempDirs("mpi-syslog-ng-");

describe("syslog-ng config", () => {
  test("the Redis replica config replaces the default only with REDIS_SLAVEOF_IP", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "syslog-ng.conf"), "default\n");
    writeFileSync(join(dir, "syslog-ng-redis_slave.conf"), "replica\n");
    selectSyslogNgConfig(dir, undefined, createMemoryLogger());
    expect(readFileSync(join(dir, "syslog-ng.conf"), "utf8")).toBe("default\n");
    selectSyslogNgConfig(dir, "10.0.0.5", createMemoryLogger());
    expect(readFileSync(join(dir, "syslog-ng.conf"), "utf8")).toBe("replica\n");
  });

  test("a missing replica config is a warning, not a failure", () => {
    const log = createMemoryLogger();
    selectSyslogNgConfig(tempDir(), "10.0.0.5", log);
    expect(log.lines[0]).toContain("warning: REDIS_SLAVEOF_IP is set but");
  });
});
