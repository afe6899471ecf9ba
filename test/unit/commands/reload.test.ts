import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { makeCertificateDirectory } from "../../support/certs.ts";
import { runCli } from "../../support/cli.ts";
import { startTestPostfix } from "../../support/postfix-server.ts";
import { servedCertificate } from "../../support/tls.ts";
import { writeSettledFile } from "../../support/tmp.ts";
import { mkdirSync } from "node:fs";
import { mailTrees } from "../../support/fixture.ts";

// `reload` against a running test Postfix: a renewed certificate is served after reload.

const mailTree = mailTrees("mpi-reload-");

describe("reload", () => {
  test("rebuilds sni.map.db and reloads Postfix: the renewed certificate is served", async () => {
    const { root, sslDir, confDir, defaultCert, dirs } = mailTree({
      defaultNames: ["mail.example.test"],
      certificateDirs: { "shop.example.test": ["shop.example.test"] },
    });
    const main = defaultCert!;
    const before = dirs["shop.example.test"]!;
    const first = await runCli(["sni-map", `--ssl-dir=${sslDir}`, `--conf-dir=${confDir}`, "--hostname=mail.example.test"]);
    expect(first.exitCode).toBe(0);
    const postfix = await startTestPostfix({ root, confDir, defaultKey: main.keyFile, defaultCert: main.certFile });
    try {
      expect((await servedCertificate(postfix.port, "shop.example.test")).fingerprint).toBe(before.fingerprint);
      const renewed = makeCertificateDirectory(sslDir, "shop.example.test", ["shop.example.test"]);
      await Bun.sleep(1_100); // smtpd notices a changed .db by its mtime in whole seconds (FACTS)
      const result = await runCli(["reload", `--ssl-dir=${sslDir}`, `--conf-dir=${confDir}`], { MAILCOW_HOSTNAME: "mail.example.test" });
      expect(result.stderr).toContain("Postfix reloaded with the new SNI map");
      expect(result.exitCode).toBe(0);
      let served = "";
      for (let attempt = 0; attempt < 20 && served !== renewed.fingerprint; attempt++) {
        served = (await servedCertificate(postfix.port, "shop.example.test")).fingerprint;
        if (served !== renewed.fingerprint) await Bun.sleep(200);
      }
      expect(served).toBe(renewed.fingerprint);
    } finally {
      await postfix.stop();
    }
  }, 30_000);

  test("postfix not running: exit 1 with the reason; the new map is still in place", async () => {
    const { root, sslDir, confDir } = mailTree({ defaultNames: ["mail.example.test"], mainCf: null });
    mkdirSync(confDir);
    writeSettledFile(join(confDir, "main.cf"), `queue_directory = ${join(root, "spool")}\n`);
    const result = await runCli(["reload", `--ssl-dir=${sslDir}`, `--conf-dir=${confDir}`, "--hostname=mail.example.test"]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain(`postfix -c ${confDir} reload failed`);
    expect(readFileSync(join(confDir, "sni.map"), "utf8")).toContain("mail.example.test ");
  });

  test("a broken certificate tree that cannot be mapped: exit 1, old map kept, no reload", async () => {
    const { root, sslDir, confDir } = mailTree({ defaultNames: ["mail.example.test"] });
    expect((await runCli(["sni-map", `--ssl-dir=${sslDir}`, `--conf-dir=${confDir}`, "--hostname=mail.example.test"])).exitCode).toBe(0);
    const old = readFileSync(join(confDir, "sni.map"), "utf8");
    const result = await runCli([
      "reload",
      `--ssl-dir=${join(root, "missing-ssl")}`,
      `--conf-dir=${confDir}`,
      "--hostname=mail.example.test",
    ]);
    expect(result.exitCode).not.toBe(0);
    expect(readFileSync(join(confDir, "sni.map"), "utf8")).toBe(old);
  });

  test("an invalid hostname is refused", async () => {
    const result = await runCli(["reload", "--hostname=not a name"]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain("is not a valid DNS name");
  });
});
