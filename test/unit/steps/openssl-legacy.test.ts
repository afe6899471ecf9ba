import { describe, expect, test } from "bun:test";
import { chmodSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createMemoryLogger } from "../../../src/log.ts";
import { applyLegacyTls, wantsLegacyTls, withLegacyTls } from "../../../src/steps/openssl-legacy.ts";
import { tempDirs } from "../../support/fixture.ts";

const tempDir = tempDirs("mpi-openssl-legacy-");

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

  test("the section goes in once whatever the indentation; ssl_conf only under an [openssl_init] there is; no newline is lost", () => {
    expect(withLegacyTls("  [ssl_configuration]  \nsystem_default = x\n")).toBe("  [ssl_configuration]  \nsystem_default = x\n");
    const sections =
      "[ssl_configuration]\nsystem_default = tls_system_default\n[tls_system_default]\nMinProtocol = TLSv1\nCipherString = DEFAULT@SECLEVEL=0\n";
    expect(withLegacyTls("")).toBe(sections);
    expect(withLegacyTls("openssl_conf = openssl_init\n  [openssl_init]  \nproviders = p\n")).toBe(
      `openssl_conf = openssl_init\n  [openssl_init]  \nssl_conf = ssl_configuration\nproviders = p\n${sections}`,
    );
    expect(withLegacyTls("# no init section\nx = 1\n")).toBe(`# no init section\nx = 1\n${sections}`);
    expect(withLegacyTls("x = 1")).toBe(`x = 1\n${sections}`);
  });

  test("main.cf without a final newline and extra.cf are read as separate lines; openssl.cnf keeps its mode; one line when it changes", () => {
    const conf = tempDir();
    const cnfFile = join(conf, "openssl.cnf");
    writeFileSync(cnfFile, cnf);
    chmodSync(cnfFile, 0o640);
    writeFileSync(join(conf, "main.cf"), "smtpd_tls_mandatory_protocols = >=TLSv1");
    writeFileSync(join(conf, "extra.cf"), "x = 1\n");
    const log = createMemoryLogger();
    applyLegacyTls(conf, cnfFile, log);
    applyLegacyTls(conf, cnfFile, log);
    expect(readFileSync(cnfFile, "utf8")).toBe(withLegacyTls(cnf));
    expect(statSync(cnfFile).mode & 0o777).toBe(0o640);
    expect(log.lines).toEqual([
      `mailcow-postfix-init: ${cnfFile}: enabled TLSv1/TLSv1.1 (MinProtocol TLSv1, SECLEVEL 0) because Postfix allows them`,
    ]);
  });

  test("no openssl.cnf: one warning, nothing written", () => {
    const conf = tempDir();
    writeFileSync(join(conf, "main.cf"), "smtpd_tls_protocols = !SSLv2, !SSLv3\n");
    const log = createMemoryLogger();
    applyLegacyTls(conf, join(conf, "openssl.cnf"), log);
    expect(log.lines).toEqual([
      `mailcow-postfix-init: warning: Postfix allows TLSv1/TLSv1.1 but ${join(conf, "openssl.cnf")} does not exist; not lowering OpenSSL's security level`,
    ]);
  });
});
