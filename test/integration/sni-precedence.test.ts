import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { cleanupBuiltBinary, runBinary } from "../support/binary.ts";
import { makeCertificate, makeCertificateDirectory, makeExpiredCertificateDirectory, type MadeCertificate } from "../support/certs.ts";
import { testEnv } from "../support/fixture.ts";
import { startTestPostfix, writePostfixConfig, type TestPostfix } from "../support/postfix-server.ts";
import { servedCertificate } from "../support/tls.ts";
import { makeTempDir } from "../support/tmp.ts";

// Several directories claim a name: the compiled binary's sni-map, real Postfix serving its map,
// and `openssl s_client -servername` show which certificate clients get. The live certificate
// must be served, never an expired copy that sorts first or hides in a dot-directory.

const temp = makeTempDir("mpi-precedence-");
let postfix: TestPostfix;
let live: MadeCertificate;
let liveShop: MadeCertificate;
let stderr = "";

beforeAll(async () => {
  const sslDir = join(temp.path, "ssl");
  const confDir = join(temp.path, "conf");
  mkdirSync(confDir);
  makeCertificate(sslDir, { names: ["mail.example.test"] });
  makeExpiredCertificateDirectory(sslDir, ".example.test.old", ["example.test"]);
  live = makeCertificateDirectory(sslDir, "example.test", ["example.test"]);
  makeExpiredCertificateDirectory(sslDir, "0ld-shop.example.test", ["shop.example.test"]);
  liveShop = makeCertificateDirectory(sslDir, "shop.example.test", ["shop.example.test"]);
  const fallback = makeCertificate(join(temp.path, "fallback"), { names: ["fallback.invalid"] });
  const options = { root: temp.path, confDir, defaultKey: fallback.keyFile, defaultCert: fallback.certFile };
  writePostfixConfig(options, 1);
  await Bun.sleep(100); // files left alone long enough for the judge
  const run = runBinary(
    ["sni-map", "--ssl-dir", sslDir, "--conf-dir", confDir],
    testEnv({ MAILCOW_HOSTNAME: "mail.example.test", MAIL_CONFIG: confDir }),
  );
  if (run.exitCode !== 0) throw new Error(`sni-map failed: ${run.stderr}`);
  stderr = run.stderr;
  postfix = await startTestPostfix(options);
}, 120_000);

afterAll(async () => {
  await postfix?.stop();
  cleanupBuiltBinary();
  temp.cleanup();
});

test("a hidden .example.test.old/ with an expired copy does not take example.test from the live example.test/", async () => {
  expect((await servedCertificate(postfix.port, "example.test")).fingerprint).toBe(live.fingerprint);
  expect(stderr).toContain(`${join(temp.path, "ssl", ".example.test.old")}: holds cert.pem but is not a certificate directory`);
});

test("an expired 0ld-shop.example.test/ that sorts first does not take the name from the live shop.example.test/", async () => {
  expect((await servedCertificate(postfix.port, "shop.example.test")).fingerprint).toBe(liveShop.fingerprint);
  expect(stderr).toMatch(
    /shop\.example\.test listed by both \S+\/shop\.example\.test and \S+\/0ld-shop\.example\.test; mapped to \S+ \(valid now and covering the name\)/,
  );
});
