import { expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readCertificateFacts } from "../../../src/sni/certificate.ts";
import { tempDirs } from "../../support/fixture.ts";

// Certificates made by the openssl command line, which writes the bytes it is given into a
// dNSName: the reader must show non-ASCII values escaped, never turn them into other names.

const tempDir = tempDirs("mpi-certificate-");

/** DER of a self-signed certificate whose request config is CONFIG (raw bytes allowed). */
function certificateDer(config: Buffer | string, extra: string[] = []): Uint8Array {
  const dir = tempDir();
  writeFileSync(join(dir, "req.cnf"), config);
  const made = Bun.spawnSync(
    [
      "openssl",
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      join(dir, "key.pem"),
      "-config",
      join(dir, "req.cnf"),
      "-outform",
      "DER",
      "-out",
      join(dir, "cert.der"),
      ...extra,
    ],
    { stderr: "pipe" },
  );
  if (made.exitCode !== 0) throw new Error(made.stderr.toString());
  return readFileSync(join(dir, "cert.der"));
}

const config = (subject: string, san?: Buffer | string) =>
  Buffer.concat([
    Buffer.from(
      `[req]\nprompt = no\ndistinguished_name = dn\nutf8 = yes\n${san === undefined ? "" : "x509_extensions = ext\n"}[dn]\n${subject}\n`,
    ),
    ...(san === undefined ? [] : [Buffer.from("[ext]\nsubjectAltName = "), Buffer.from(san), Buffer.from("\n")]),
  ]);

test("dNSNames are read as the bytes they are: UTF-8 and \\xff values are rejected, escaped", () => {
  const facts = readCertificateFacts(
    certificateDer(
      config(
        "CN = ignored.test",
        Buffer.concat([Buffer.from("DNS:ok.test, DNS:b\u00fccher.test, DNS:bad"), Buffer.from([0xff]), Buffer.from(".test")]),
      ),
    ),
  );
  expect(facts.names).toEqual(["ok.test"]);
  expect(facts.rejectedNames).toEqual(["b\\xc3\\xbccher.test", "bad\\xff.test"]);
});

test("without a dNSName every CN counts, multi-valued RDNs included; with one, CNs do not", () => {
  const multi = readCertificateFacts(
    certificateDer(config("CN = unused.test"), ["-subj", "/CN=a.test+CN=b.test/O=x/CN=c.test", "-multivalue-rdn"]),
  );
  expect(multi.names).toEqual(["a.test", "b.test", "c.test"]);
  const withSan = readCertificateFacts(certificateDer(config("CN = cn.test", "DNS:san.test, IP:192.0.2.1")));
  expect(withSan.names).toEqual(["san.test"]);
});

test("validity dates are read from the DER", () => {
  const facts = readCertificateFacts(certificateDer(config("CN = a.test")));
  expect(Date.parse(facts.notAfter!) - Date.parse(facts.notBefore!)).toBe(30 * 86_400_000);
});

test("bytes that are no certificate give empty facts, never an exception", () => {
  expect(readCertificateFacts(Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x01))).toEqual({ names: [], rejectedNames: [] });
  expect(readCertificateFacts(new Uint8Array(0))).toEqual({ names: [], rejectedNames: [] });
});
