import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createMemoryLogger } from "../../../src/log.ts";
import { listHooks, runHooks } from "../../../src/steps/hooks.ts";
import { applyLegacyTls, wantsLegacyTls, withLegacyTls } from "../../../src/steps/openssl-legacy.ts";
import { selectSyslogNgConfig } from "../../../src/steps/syslog-ng.ts";
import { makeTempDir } from "../../support/tmp.ts";

const cleanups: (() => void)[] = [];
afterAll(() => cleanups.forEach((cleanup) => cleanup()));
function tempDir(): string {
  const temp = makeTempDir("mpi-entry-");
  cleanups.push(temp.cleanup);
  return temp.path;
}
function script(path: string, body: string, mode = 0o755): void {
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, mode);
}

describe("hooks", () => {
  test("executable files only, in byte order, dotfiles skipped", () => {
    const dir = tempDir();
    for (const name of ["b", "a", "B", "10-x", ".hidden"]) script(join(dir, name), "true");
    script(join(dir, "not-executable"), "true", 0o644);
    mkdirSync(join(dir, "subdir"));
    expect(listHooks(dir).map((path) => path.slice(dir.length + 1))).toEqual(["10-x", "B", "a", "b"]);
    expect(listHooks(join(dir, "missing"))).toEqual([]);
  });

  test("each exit status is logged; a failing hook does not stop the others", async () => {
    const dir = tempDir();
    const out = join(dir, "..", `${dir.split("/").pop()}.out`);
    cleanups.push(() => existsSync(out) && Bun.spawnSync(["rm", "-f", out]));
    script(join(dir, "1-fails"), `echo one >> ${out}; exit 3`);
    script(join(dir, "2-works"), `echo "two $HOOK_VAR" >> ${out}`);
    const log = createMemoryLogger();
    const results = await runHooks(dir, { HOOK_VAR: "env-passed", PATH: process.env.PATH }, log);
    expect(results.map((result) => result.exitCode)).toEqual([3, 0]);
    expect(readFileSync(out, "utf8")).toBe("one\ntwo env-passed\n");
    expect(log.lines).toEqual([
      `mailcow-postfix-init: running hook ${dir}/1-fails`,
      `mailcow-postfix-init: error: hook ${dir}/1-fails failed (exit 3); continuing`,
      `mailcow-postfix-init: running hook ${dir}/2-works`,
      `mailcow-postfix-init: hook ${dir}/2-works finished (exit 0)`,
    ]);
  });

  test("a hanging hook is killed with everything it started once the timeout passes", async () => {
    const dir = tempDir();
    const pidFile = join(dir, "..", `${dir.split("/").pop()}.pid`);
    script(join(dir, "hangs"), `sleep 300 & echo $! > ${pidFile}; wait`);
    script(join(dir, "next"), "exit 0");
    const log = createMemoryLogger();
    const started = Date.now();
    const results = await runHooks(dir, { PATH: process.env.PATH }, log, 300);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(results.map((result) => [result.timedOut, result.exitCode])).toEqual([[true, undefined], [false, 0]]);
    expect(log.lines[1]).toBe(`mailcow-postfix-init: error: hook ${dir}/hangs did not finish within 0.3s and was killed; continuing`);
    const sleeper = Number(readFileSync(pidFile, "utf8"));
    Bun.spawnSync(["rm", "-f", pidFile]);
    await Bun.sleep(100);
    expect(existsSync(`/proc/${sleeper}`) && !readFileSync(`/proc/${sleeper}/stat`, "utf8").includes(") Z ")).toBe(false);
  });
});

describe("OpenSSL legacy TLS", () => {
  const cnf = "openssl_conf = openssl_init\n\n[openssl_init]\nproviders = provider_sect\n\n[provider_sect]\n";

  test("detected from the same settings mailcow's entrypoint looks for", () => {
    expect(wantsLegacyTls("smtpd_tls_protocols = !SSLv2, !SSLv3\n")).toBe(true);
    expect(wantsLegacyTls("smtpd_tls_mandatory_protocols = >=TLSv1\n")).toBe(true);
    expect(wantsLegacyTls("smtpd_tls_mandatory_protocols = >=TLSv1.1\nx = 1\n")).toBe(true);
    expect(wantsLegacyTls("smtpd_tls_mandatory_protocols = >=TLSv1.2\n")).toBe(false);
  });

  test("applied once: a second application changes nothing", () => {
    const once = withLegacyTls(cnf);
    expect(once).toBe(
      "openssl_conf = openssl_init\n\n[openssl_init]\nssl_conf = ssl_configuration\nproviders = provider_sect\n\n[provider_sect]\n" +
        "[ssl_configuration]\nsystem_default = tls_system_default\n[tls_system_default]\nMinProtocol = TLSv1\nCipherString = DEFAULT@SECLEVEL=0\n",
    );
    expect(withLegacyTls(once)).toBe(once);
  });

  test("only when main.cf or extra.cf allow old protocols", () => {
    const conf = tempDir();
    const cnfFile = join(conf, "openssl.cnf");
    writeFileSync(cnfFile, cnf);
    writeFileSync(join(conf, "main.cf"), "smtpd_tls_protocols = >=TLSv1.2\n");
    applyLegacyTls(conf, cnfFile, createMemoryLogger());
    expect(readFileSync(cnfFile, "utf8")).toBe(cnf);
    writeFileSync(join(conf, "extra.cf"), "smtpd_tls_protocols = !SSLv2, !SSLv3\n");
    applyLegacyTls(conf, cnfFile, createMemoryLogger());
    applyLegacyTls(conf, cnfFile, createMemoryLogger());
    expect(readFileSync(cnfFile, "utf8")).toBe(withLegacyTls(cnf));
  });
});

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
