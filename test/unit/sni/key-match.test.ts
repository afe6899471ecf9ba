import { afterAll, describe, expect, test } from "bun:test";
import { X509Certificate, createPrivateKey, createPublicKey } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readSingle, TAG } from "../../../src/sni/der.ts";
import { keyMatchesCertificate, publicKeyOfCertificate, publicKeyOfPrivateKeyPem, type PublicKey } from "../../../src/sni/key-match.ts";
import { validatePair } from "../../../src/sni/validate.ts";
import { openssl } from "../../support/certs.ts";
import { makeTempDir } from "../../support/tmp.ts";

// Keys in every encoding openssl writes, generated per run; the walker's answer is checked
// against node's own key import (an independent parser) and against validatePair's verdict.

const temp = makeTempDir("mpi-key-match-");
afterAll(temp.cleanup);
const path = (name: string) => join(temp.path, name);
const read = (name: string) => readFileSync(path(name), "utf8");

/** A key (PEM, as openssl wrote it) and a self-signed certificate for it. */
function keyAndCertificate(name: string, genArgs: string[]): { key: string; cert: X509Certificate } {
  openssl([...genArgs, "-out", path(`${name}.key`)]);
  openssl(["req", "-x509", "-key", path(`${name}.key`), "-out", path(`${name}.crt`), "-days", "30", "-subj", `/CN=${name}.example.test`]);
  return { key: read(`${name}.key`), cert: new X509Certificate(read(`${name}.crt`)) };
}

const rsa = keyAndCertificate("rsa-pkcs8", ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]);
openssl(["rsa", "-in", path("rsa-pkcs8.key"), "-traditional", "-out", path("rsa-pkcs1.key")]);
const ec = keyAndCertificate("ec-pkcs8", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]);
openssl(["ec", "-in", path("ec-pkcs8.key"), "-out", path("ec-sec1.key")]);
openssl(["ec", "-in", path("ec-pkcs8.key"), "-no_public", "-out", path("ec-sec1-no-public.key")]);
openssl(["pkcs8", "-topk8", "-nocrypt", "-in", path("ec-sec1-no-public.key"), "-out", path("ec-pkcs8-no-public.key")]);
openssl(["ec", "-in", path("ec-pkcs8.key"), "-conv_form", "compressed", "-out", path("ec-sec1-compressed.key")]);
const other = keyAndCertificate("rsa-other", ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]);
const ed25519 = keyAndCertificate("ed25519", ["genpkey", "-algorithm", "ED25519"]);
openssl(["pkcs8", "-topk8", "-in", path("rsa-pkcs8.key"), "-passout", "pass:secret", "-out", path("rsa-encrypted.key")]);
openssl(["rsa", "-in", path("rsa-pkcs8.key"), "-traditional", "-aes256", "-passout", "pass:secret", "-out", path("rsa-encrypted-pkcs1.key")]);

/** The same key as node's JWK export gives it, for comparing with the walker's bytes. */
function jwkOf(key: PublicKey): Record<string, string | undefined> {
  const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url");
  return key.type === "rsa" ? { n: b64(key.modulus), e: b64(key.exponent) } : { point: b64(key.point) };
}
function nodeJwk(pem: string): Record<string, string | undefined> {
  const jwk = createPublicKey(createPrivateKey(pem)).export({ format: "jwk" });
  return jwk.kty === "RSA" ? { n: jwk.n, e: jwk.e } : { point: Buffer.concat([Buffer.of(4), Buffer.from(jwk.x!, "base64url"), Buffer.from(jwk.y!, "base64url")]).toString("base64url") };
}

describe("public key read from the private key's DER", () => {
  test.each([["rsa-pkcs1.key"], ["rsa-pkcs8.key"], ["ec-sec1.key"], ["ec-pkcs8.key"]])("%s: the public key node derives, and it matches the certificate", (name) => {
    const pem = read(name);
    const key = publicKeyOfPrivateKeyPem(pem);
    expect(key).toBeDefined();
    expect(jwkOf(key!)).toEqual(nodeJwk(pem));
    const cert = name.startsWith("rsa") ? rsa.cert : ec.cert;
    expect(keyMatchesCertificate(pem, cert.raw)).toBe(true);
  });

  test("the certificate's public key is the one node reads from it", () => {
    expect(jwkOf(publicKeyOfCertificate(rsa.cert.raw)!)).toEqual(nodeJwk(rsa.key));
    expect(jwkOf(publicKeyOfCertificate(ec.cert.raw)!)).toEqual(nodeJwk(ec.key));
  });

  test("another key: false (RSA/RSA, RSA/EC)", () => {
    expect(keyMatchesCertificate(other.key, rsa.cert.raw)).toBe(false);
    expect(keyMatchesCertificate(ec.key, rsa.cert.raw)).toBe(false);
    expect(keyMatchesCertificate(rsa.key, ec.cert.raw)).toBe(false);
  });

  test.each([
    ["ec-sec1-no-public.key", "EC without the optional public key"],
    ["ec-pkcs8-no-public.key", "PKCS#8 EC without the public key"],
    ["ec-sec1-compressed.key", "compressed point (the certificate's is not)"],
    ["ed25519.key", "Ed25519"],
    ["rsa-encrypted.key", "encrypted PKCS#8"],
    ["rsa-encrypted-pkcs1.key", "encrypted PKCS#1 (Proc-Type header)"],
  ])("%s (%s): cannot tell, left to the full import", (name) => {
    const cert = name.startsWith("rsa") ? rsa.cert : name.startsWith("ed") ? ed25519.cert : ec.cert;
    expect(keyMatchesCertificate(read(name), cert.raw)).toBeUndefined();
  });

  test("garbage, no key, two keys: cannot tell", () => {
    expect(publicKeyOfPrivateKeyPem("garbage\n")).toBeUndefined();
    expect(publicKeyOfPrivateKeyPem("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")).toBeUndefined();
    expect(publicKeyOfPrivateKeyPem(read("rsa-pkcs8.crt"))).toBeUndefined();
    expect(publicKeyOfPrivateKeyPem(rsa.key + other.key)).toBeUndefined();
  });

  test("every truncation of the DER, and trailing bytes: cannot tell, never a throw", () => {
    for (const name of ["rsa-pkcs1.key", "rsa-pkcs8.key", "ec-sec1.key", "ec-pkcs8.key"]) {
      const pem = read(name);
      const label = pem.slice(11, pem.indexOf("-----", 11));
      const der = Buffer.from(pem.replace(/-----[^-]+-----/g, ""), "base64");
      const wrap = (bytes: Buffer) => `-----BEGIN ${label}-----\n${bytes.toString("base64").replace(/.{64}/g, "$&\n")}\n-----END ${label}-----\n`;
      for (let length = 0; length < der.length; length++) {
        expect(publicKeyOfPrivateKeyPem(wrap(der.subarray(0, length)))).toBeUndefined();
      }
      expect(publicKeyOfPrivateKeyPem(wrap(Buffer.concat([der, Buffer.of(0)])))).toBeUndefined();
      expect(publicKeyOfPrivateKeyPem(wrap(der))).toBeDefined();
    }
    const certDer = Buffer.from(rsa.cert.raw);
    for (let length = 0; length < certDer.length; length += 7) expect(publicKeyOfCertificate(certDer.subarray(0, length))).toBeUndefined();
  });
});

describe("validatePair: the DER path decides matches, the full import everything else", () => {
  const pair = (key: string, cert: string) => {
    const keyFile = path(`pair-${Math.random().toString(16).slice(2)}.key`);
    writeFileSync(keyFile, key);
    return validatePair({ keyFile, certFile: path(cert) });
  };

  test.each([["rsa-pkcs1.key", "rsa-pkcs8.crt"], ["rsa-pkcs8.key", "rsa-pkcs8.crt"], ["ec-sec1.key", "ec-pkcs8.crt"], ["ec-pkcs8.key", "ec-pkcs8.crt"]])("%s: valid", (key, cert) => {
    expect(pair(read(key), cert)).toMatchObject({ valid: true, keyMatches: true });
  });

  test.each([["ec-sec1-no-public.key", "ec-pkcs8.crt"], ["ec-pkcs8-no-public.key", "ec-pkcs8.crt"], ["ec-sec1-compressed.key", "ec-pkcs8.crt"], ["ed25519.key", "ed25519.crt"]])("%s: valid through the full import", (key, cert) => {
    expect(pair(read(key), cert)).toMatchObject({ valid: true, keyMatches: true });
  });

  test("mismatched, encrypted and garbage keys: the same codes and words as the full import gives", () => {
    expect(pair(other.key, "rsa-pkcs8.crt").failure).toMatchObject({ code: "key-mismatch", reason: expect.stringMatching(/ does not match the certificate in /) });
    for (const key of [read("rsa-encrypted.key"), read("rsa-encrypted-pkcs1.key"), "garbage\n"]) {
      expect(pair(key, "rsa-pkcs8.crt").failure).toMatchObject({ code: "key-invalid", reason: expect.stringMatching(/holds no usable private key \(garbage, encrypted or unsupported\)$/) });
    }
  });

  test("like Postfix, only the public part is compared: a damaged private exponent the full import rejects is taken", () => {
    const der = Buffer.from(read("rsa-pkcs1.key").replace(/-----[^-]+-----/g, ""), "base64");
    const privateExponent = readSingle(der, TAG.SEQUENCE)![3]!;
    privateExponent.content[10]! ^= 0xff; // the DER structure stays intact
    const damaged = `-----BEGIN RSA PRIVATE KEY-----\n${der.toString("base64").replace(/.{64}/g, "$&\n")}\n-----END RSA PRIVATE KEY-----\n`;
    expect(() => createPrivateKey(damaged)).toThrow();
    expect(pair(damaged, "rsa-pkcs8.crt")).toMatchObject({ valid: true, keyMatches: true });
  });
});
