import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
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
});
