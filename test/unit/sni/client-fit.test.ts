import { describe, expect, test } from "bun:test";
import { certificateMessageBytes, clientFitFailure, MAX_CERTIFICATE_MESSAGE, verifierWarnings } from "../../../src/sni/client-fit.ts";
import type { LoadedChain } from "../../../src/sni/loaded-chain.ts";

// The rules on their own, at their edges; test/integration/client-handshake-corpus.test.ts
// holds them to real clients.

const files = { keyFile: "/ssl/x/key.pem", certFile: "/ssl/x/cert.pem" };
const ecdsaFiles = { keyFile: "/ssl/x/ecdsa-key.pem", certFile: "/ssl/x/ecdsa-cert.pem" };
const chain = (fields: Partial<LoadedChain> = {}): LoadedChain => ({
  keyType: "RSA",
  bits: 2048,
  leaf: new Uint8Array(1200),
  issuers: [new Uint8Array(1100)],
  weakSignatures: [],
  ...fields,
});
const fit = (...chains: LoadedChain[]) =>
  clientFitFailure(chains.map((one, index) => ({ chain: one, files: index === 0 ? files : ecdsaFiles })));

describe("RSA key size", () => {
  test("under 521 bits: no TLS 1.3 signature; from 521 to 527: RSA-PSS picked and failing; 528 and up: fine", () => {
    expect(fit(chain({ bits: 520 }))?.reason).toContain(
      "520-bit RSA key, too small for an RSA-PSS-SHA256 signature (at least 528 bits): every TLS 1.3 handshake fails (OpenSSL: no suitable signature algorithm)",
    );
    expect(fit(chain({ bits: 521 }))?.reason).toContain("data too large for key size");
    expect(fit(chain({ bits: 527 }))?.code).toBe("rsa-key-too-small");
    expect(fit(chain({ bits: 528 }))).toBeUndefined();
    expect(fit(chain({ keyType: "RSA-PSS", bits: 512 }))?.code).toBe("rsa-key-too-small");
  });

  test("a small RSA key beside a good ECDSA pair is harmless (TLS 1.3 gets the ECDSA pair); one of 521-527 bits is not", () => {
    expect(fit(chain({ bits: 512 }), chain({ keyType: "EC", bits: 256 }))).toBeUndefined();
    expect(fit(chain({ bits: 524 }), chain({ keyType: "EC", bits: 256 }))?.code).toBe("rsa-key-too-small");
  });
});

describe("TLS 1.2 clients get the RSA pair however small", () => {
  test("a small RSA key whose certificate lacks digitalSignature, or whose chain is too large, beside a good ECDSA pair: unusable", () => {
    const ecdsa = chain({ keyType: "EC", bits: 256 });
    expect(fit(chain({ bits: 512, keyUsage: 0x20 }), ecdsa)).toEqual({
      code: "key-usage",
      reason: `${files.certFile}: the certificate's keyUsage (keyEncipherment) lacks digitalSignature: GnuTLS clients abort the handshake (key usage violation)`,
    });
    const large = chain({ bits: 512, leaf: new Uint8Array(MAX_CERTIFICATE_MESSAGE), issuers: [] });
    expect(fit(large, ecdsa)?.reason).toContain(`a ${MAX_CERTIFICATE_MESSAGE + 6}-byte TLS 1.2 Certificate message`);
  });

  test("a small RSA-PSS key is never picked, in either protocol: beside a good ECDSA pair its keyUsage and chain size do not matter", () => {
    const ecdsa = chain({ keyType: "EC", bits: 256 });
    expect(fit(chain({ keyType: "RSA-PSS", bits: 512, keyUsage: 0x20 }), ecdsa)).toBeUndefined();
    expect(fit(chain({ keyType: "RSA-PSS", bits: 512, leaf: new Uint8Array(MAX_CERTIFICATE_MESSAGE) }), ecdsa)).toBeUndefined();
  });
});

describe("keyUsage", () => {
  test("without digitalSignature: refused for RSA and EC, naming the usage the certificate has", () => {
    expect(fit(chain({ keyUsage: 0x20 }))?.reason).toBe(
      `${files.certFile}: the certificate's keyUsage (keyEncipherment) lacks digitalSignature: GnuTLS clients abort the handshake (key usage violation)`,
    );
    expect(fit(chain({ keyType: "EC", keyUsage: 0x08 }))?.reason).toContain(
      "(keyAgreement) lacks digitalSignature: GnuTLS clients abort the handshake (key usage violation) and TLS 1.2 clients find no cipher (OpenSSL: no shared cipher)",
    );
    expect(fit(chain({ keyUsage: 0xa0 }))).toBeUndefined();
    expect(fit(chain({ keyType: "EC", keyUsage: 0x80 }))).toBeUndefined();
  });

  test("an EC pair without digitalSignature beside a good RSA pair still makes the value unusable (TLS 1.3 may pick it)", () => {
    expect(fit(chain(), chain({ keyType: "EC", keyUsage: 0x08 }))?.reason).toContain(ecdsaFiles.certFile);
  });
});

describe("chain size", () => {
  test("the Certificate message body as smtpd sends it, up to exactly 100 KiB in TLS 1.3", () => {
    const sized = (total: number) => chain({ leaf: new Uint8Array(total - 4 - 5), issuers: [] });
    expect(certificateMessageBytes(sized(MAX_CERTIFICATE_MESSAGE), "TLS 1.3")).toBe(MAX_CERTIFICATE_MESSAGE);
    expect(certificateMessageBytes(sized(MAX_CERTIFICATE_MESSAGE), "TLS 1.2")).toBe(MAX_CERTIFICATE_MESSAGE - 3);
    expect(fit(sized(MAX_CERTIFICATE_MESSAGE))).toBeUndefined();
    expect(fit(sized(MAX_CERTIFICATE_MESSAGE + 1))?.reason).toContain(
      "a 102401-byte TLS 1.3 Certificate message: OpenSSL-based clients accept at most 102400 (OpenSSL: excessive message size)",
    );
  });
});

describe("warnings for verifying clients", () => {
  test("extendedKeyUsage without serverAuth or anyExtendedKeyUsage, and MD5/SHA-1 signatures", () => {
    expect(verifierWarnings(chain({ extendedKeyUsage: 0x2 }), files).map((warning) => warning.code)).toEqual(["not-for-servers"]);
    expect(verifierWarnings(chain({ extendedKeyUsage: 0x3 }), files)).toEqual([]);
    expect(verifierWarnings(chain({ extendedKeyUsage: 0x100 }), files)).toEqual([]);
    expect(verifierWarnings(chain({ weakSignatures: [{ index: 2, digest: "SHA1" }] }), files).map((warning) => warning.message)).toEqual([
      `${files.certFile}: certificate 2 of the chain is signed with SHA1; handshakes complete, but clients that verify will reject it`,
    ]);
  });
});

describe("the words of each refusal (docs/map-rules.md's table)", () => {
  test("an RSA key too small for TLS 1.3, said for the key file, with its size and type", () => {
    expect(fit(chain({ bits: 512 }))).toEqual({
      code: "rsa-key-too-small",
      reason: `${files.keyFile} is a 512-bit RSA key, too small for an RSA-PSS-SHA256 signature (at least 528 bits): every TLS 1.3 handshake fails (OpenSSL: no suitable signature algorithm)`,
    });
    expect(fit(chain({ keyType: "RSA-PSS", bits: 520 }))?.reason).toStartWith(`${files.keyFile} is a 520-bit RSA-PSS key, too small`);
    expect(fit(chain({ keyType: "RSA-PSS", bits: 528 }))).toBeUndefined();
    expect(fit(chain({ keyType: "EC", bits: 256 }))).toBeUndefined();
    expect(fit(chain({ keyType: "ED25519", bits: 253 }))).toBeUndefined();
  });

  test("an RSA key of 521-527 bits: every handshake fails, in both protocols", () => {
    expect(fit(chain({ bits: 521 }))).toEqual({
      code: "rsa-key-too-small",
      reason: `${files.keyFile} is a 521-bit RSA key: smtpd picks RSA-PSS-SHA256 and cannot make the signature (OpenSSL: data too large for key size), every handshake fails; use at least 2048 bits`,
    });
    expect(fit(chain({ keyType: "RSA-PSS", bits: 527 }))?.reason).toStartWith(`${files.keyFile} is a 527-bit RSA-PSS key: smtpd picks`);
  });

  test("a small RSA key beside another small one: nothing serves TLS 1.3", () => {
    expect(fit(chain({ bits: 512 }), chain({ keyType: "RSA-PSS", bits: 512 }))?.code).toBe("rsa-key-too-small");
    expect(fit(chain({ bits: 512 }), chain({ keyType: "RSA-PSS", bits: 512 }))?.reason).toStartWith(files.keyFile);
  });

  test("keyUsage without digitalSignature names every usage the certificate has, or none", () => {
    expect(fit(chain({ keyUsage: 0x807f }))?.reason).toBe(
      `${files.certFile}: the certificate's keyUsage (nonRepudiation, keyEncipherment, dataEncipherment, keyAgreement, keyCertSign, cRLSign, encipherOnly, decipherOnly) lacks digitalSignature: GnuTLS clients abort the handshake (key usage violation)`,
    );
    expect(fit(chain({ keyUsage: 0 }))?.reason).toStartWith(`${files.certFile}: the certificate's keyUsage (none) lacks digitalSignature`);
    expect(fit(chain({ keyType: "EC", keyUsage: 0x08 }))).toEqual({
      code: "key-usage",
      reason: `${files.certFile}: the certificate's keyUsage (keyAgreement) lacks digitalSignature: GnuTLS clients abort the handshake (key usage violation) and TLS 1.2 clients find no cipher (OpenSSL: no shared cipher)`,
    });
    expect(fit(chain({ bits: 512 }), chain({ keyType: "EC", keyUsage: 0x20 }))?.code).toBe("key-usage");
  });

  test("a chain too large, with how many certificates the file holds", () => {
    const big = chain({ leaf: new Uint8Array(50_000), issuers: [new Uint8Array(30_000), new Uint8Array(30_000)] });
    expect(fit(big)).toEqual({
      code: "chain-too-large",
      reason: `${files.certFile} holds 3 certificates, a 110019-byte TLS 1.3 Certificate message: OpenSSL-based clients accept at most 102400 (OpenSSL: excessive message size); keep the leaf and its intermediates only`,
    });
    // TLS 1.2: 3 bytes of list length, 3 per certificate; TLS 1.3: 4 (context and list length), 5 per certificate.
    expect(certificateMessageBytes(big, "TLS 1.2")).toBe(3 + 110_000 + 9);
    expect(certificateMessageBytes(big, "TLS 1.3")).toBe(4 + 110_000 + 15);
  });

  test("verifier warnings: the leaf and the chain's certificates by position, each on its own line", () => {
    expect(verifierWarnings(chain({ extendedKeyUsage: 0x2 }), files)).toEqual([
      {
        code: "not-for-servers",
        message: `${files.certFile}: the certificate's extendedKeyUsage lacks serverAuth; handshakes complete, but clients that verify will reject it`,
      },
    ]);
    expect(verifierWarnings(chain({ extendedKeyUsage: 0x1 }), files)).toEqual([]);
    expect(verifierWarnings(chain(), files)).toEqual([]);
    const weak = verifierWarnings(
      chain({
        weakSignatures: [
          { index: 1, digest: "MD5" },
          { index: 3, digest: "SHA1" },
        ],
      }),
      files,
    );
    expect(weak).toEqual([
      {
        code: "weak-signature",
        message: `${files.certFile}: the certificate is signed with MD5; handshakes complete, but clients that verify will reject it`,
      },
      {
        code: "weak-signature",
        message: `${files.certFile}: certificate 3 of the chain is signed with SHA1; handshakes complete, but clients that verify will reject it`,
      },
    ]);
  });
});
