import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { loadLikePostfix } from "../../../src/sni/postfix-loader.ts";
import { makeCertificate } from "../../support/certs.ts";
import { tempDirs } from "../../support/fixture.ts";

// The loader's rules on small values; the corpus test holds it to real Postfix.

const tempDir = tempDirs("mpi-loader-");
const pair = (keyType?: "rsa") => {
  const made = makeCertificate(tempDir(), { names: ["a.test"], keyType });
  return { key: readFileSync(made.keyFile), cert: readFileSync(made.certFile) };
};
const join = (...parts: (Buffer | string)[]) => Buffer.concat(parts.map((part) => (typeof part === "string" ? Buffer.from(part) : part)));

test("key then chain loads; its key type and size are reported", () => {
  const { key, cert } = pair("rsa");
  const verdict = loadLikePostfix(join(key, "\n", cert));
  expect(verdict.loads && verdict.chains.map((chain) => [chain.keyType, chain.bits])).toEqual([["RSA", 2048]]);
});

test("the value ends at its first NUL byte, as smtpd reads it", () => {
  const { key, cert } = pair();
  expect(loadLikePostfix(join(key, "\n", cert, Buffer.from([0]), "junk")).loads).toBe(true);
  expect(loadLikePostfix(join(key, Buffer.from([0]), "\n", cert))).toMatchObject({ loads: false, code: "cert-missing" });
});

test("unknown PEM labels are skipped; a certificate first, two keys, a key alone are refused", () => {
  const { key, cert } = pair();
  expect(
    loadLikePostfix(join("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n", key, "\n", cert)).loads,
  ).toBe(true);
  expect(loadLikePostfix(join(cert, "\n", key))).toMatchObject({ loads: false, code: "key-not-first" });
  expect(loadLikePostfix(join(key, key, "\n", cert))).toMatchObject({ loads: false, code: "key-twice" });
  expect(loadLikePostfix(key)).toMatchObject({ loads: false, code: "cert-missing" });
  expect(loadLikePostfix(new Uint8Array(0))).toMatchObject({ loads: false, code: "no-pem" });
});

test("a key that belongs to another certificate is a mismatch, in OpenSSL's words", () => {
  const verdict = loadLikePostfix(join(pair().key, "\n", pair().cert));
  expect(verdict).toMatchObject({ loads: false, code: "key-mismatch" });
  expect(!verdict.loads && verdict.reason).toContain("OpenSSL: private key mismatch");
});
