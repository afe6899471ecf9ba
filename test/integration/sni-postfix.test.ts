import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { makeCertificate, makeCertificateDirectory, type MadeCertificate } from "../support/certs.ts";
import { runCli } from "../support/cli.ts";
import { startTestPostfix, writePostfixConfig, type TestPostfix } from "../support/postfix-server.ts";
import { servedCertificate } from "../support/tls.ts";
import { makeTempDir } from "../support/tmp.ts";

// sni-map against real Postfix: Debian's smtpd on a loopback port reads the sni.map.db we
// build, and `openssl s_client -starttls smtp -servername NAME` shows what clients receive.
// Postfix's own default chain is a separate "fallback" certificate, so a served certificate
// proves the map entry, not the default.

interface Scenario {
  postfix: TestPostfix;
  fallback: MadeCertificate;
  cleanup(): void;
}

async function scenario(build: (sslDir: string) => void, env: Record<string, string>): Promise<Scenario & { sniMapStderr: string }> {
  const temp = makeTempDir("mpi-postfix-");
  const sslDir = join(temp.path, "ssl");
  const confDir = join(temp.path, "conf");
  mkdirSync(confDir);
  build(sslDir);
  const fallback = makeCertificate(join(temp.path, "fallback"), { names: ["fallback.invalid"] });
  const postfixOptions = { root: temp.path, confDir, defaultKey: fallback.keyFile, defaultCert: fallback.certFile };
  // Postfix's config first (postmap reads main.cf), then the map, then the server.
  writePostfixConfig(postfixOptions, 1);
  const sniMap = await runCli(["sni-map", "--ssl-dir", sslDir, "--conf-dir", confDir], env);
  if (sniMap.exitCode !== 0) throw new Error(`sni-map failed: ${sniMap.stderr}`);
  const postfix = await startTestPostfix(postfixOptions);
  return { postfix, fallback, sniMapStderr: sniMap.stderr, cleanup: temp.cleanup };
}

describe("single domain with SKIP_LETS_ENCRYPT=y (mailcow issue 5816)", () => {
  let setup: Scenario & { sniMapStderr: string };
  let mailcowDefault: MadeCertificate;
  const names = ["mail.example.test", "example.test", "autodiscover.example.test"];
  beforeAll(async () => {
    setup = await scenario(
      (sslDir) => {
        mailcowDefault = makeCertificate(sslDir, { names, keyType: "rsa" });
        mkdirSync(join(sslDir, "acme"), { recursive: true });
      },
      { MAILCOW_HOSTNAME: "mail.example.test", SKIP_LETS_ENCRYPT: "y" },
    );
  });
  afterAll(async () => {
    await setup?.postfix.stop();
    setup?.cleanup();
  });

  test.each(names)("SNI %s gets the default certificate", async (name) => {
    expect((await servedCertificate(setup.postfix.port, name)).fingerprint).toBe(mailcowDefault.fingerprint);
  });
  test("unknown names get Postfix's default chain; no mapped name is logged as not matched", async () => {
    expect((await servedCertificate(setup.postfix.port, "unknown.example.net")).fingerprint).toBe(setup.fallback.fingerprint);
    await Bun.sleep(200);
    const log = setup.postfix.log();
    expect(log).toContain("TLS SNI unknown.example.net from localhost[127.0.0.1] not matched");
    for (const name of names) expect(log).not.toContain(`TLS SNI ${name} `);
  });
});

describe("several certificate directories", () => {
  let setup: Scenario & { sniMapStderr: string };
  let made: Record<string, MadeCertificate & { dir?: string }>;
  let sslDir: string;
  beforeAll(async () => {
    made = {};
    setup = await scenario(
      (dir) => {
        sslDir = dir;
        made.default = makeCertificate(dir, { names: ["mail.example.test", "example.test"], keyType: "rsa" });
        made.org = makeCertificateDirectory(dir, "example.org", ["example.org", "mail.example.org"], { keyType: "rsa" });
        made.orgEcdsa = makeCertificate(join(dir, "example.org"), {
          names: ["example.org", "mail.example.org"],
          certName: "ecdsa-cert.pem",
          keyName: "ecdsa-key.pem",
        });
        made.net = makeCertificateDirectory(dir, "example.net", ["example.net", "*.example.net"]);
        made.broken = makeCertificateDirectory(dir, "broken.example", ["broken.example"]);
        copyFileSync(made.net.keyFile, made.broken.keyFile);
      },
      { MAILCOW_HOSTNAME: "mail.example.test" },
    );
  });
  afterAll(async () => {
    await setup?.postfix.stop();
    setup?.cleanup();
  });

  test("each name gets its own directory's certificate", async () => {
    // example.org has RSA + ECDSA: a default client may be handed either of the two.
    const org = [made.org!.fingerprint, made.orgEcdsa!.fingerprint];
    const expectations: [string, string[]][] = [
      ["mail.example.test", [made.default!.fingerprint]],
      ["example.test", [made.default!.fingerprint]],
      ["example.org", org],
      ["mail.example.org", org],
      ["example.net", [made.net!.fingerprint]],
      ["any.example.net", [made.net!.fingerprint]],
      ["unknown.example.com", [setup.fallback.fingerprint]],
    ];
    for (const [name, allowed] of expectations) {
      const served = (await servedCertificate(setup.postfix.port, name)).fingerprint;
      expect({ name, served: allowed.includes(served) ? "expected" : served }).toEqual({ name, served: "expected" });
    }
  });

  test("clients preferring ECDSA get the directory's ECDSA certificate", async () => {
    const ecdsa = await servedCertificate(setup.postfix.port, "example.org", "127.0.0.1", ["-sigalgs", "ecdsa_secp256r1_sha256"]);
    expect(ecdsa.fingerprint).toBe(made.orgEcdsa!.fingerprint);
    const rsa = await servedCertificate(setup.postfix.port, "example.org", "127.0.0.1", ["-sigalgs", "rsa_pss_rsae_sha256"]);
    expect(rsa.fingerprint).toBe(made.org!.fingerprint);
  });

  test("a broken directory is not mapped: its name completes the handshake with the default chain", async () => {
    expect((await servedCertificate(setup.postfix.port, "broken.example")).fingerprint).toBe(setup.fallback.fingerprint);
    expect(setup.sniMapStderr.split("\n").filter((line) => line.includes("broken.example"))).toHaveLength(1);
    expect(setup.postfix.log()).not.toContain("aborting TLS handshake");
  });

  test("a rebuilt map is picked up by the running smtpd without a reload", async () => {
    const renewed = makeCertificate(join(sslDir, "example.net"), { names: ["example.net", "*.example.net"] });
    const rebuilt = await runCli(["sni-map", "--ssl-dir", sslDir, "--conf-dir", setup.postfix.confDir, "--hostname", "mail.example.test"]);
    expect(rebuilt.exitCode).toBe(0);
    let served = "";
    for (let attempt = 0; attempt < 5 && served !== renewed.fingerprint; attempt++) {
      served = (await servedCertificate(setup.postfix.port, "example.net")).fingerprint;
    }
    expect(served).toBe(renewed.fingerprint);
  });
});
