import { beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { DecodedKeys } from "../../../src/sni/decoded-keys.ts";
import { loadLikePostfix, type LoadVerdict, type ValuePart } from "../../../src/sni/postfix-loader.ts";
import { tempDirs } from "../../support/fixture.ts";
import { chain } from "../../support/pem-corpus.ts";

// docs/map-rules.md "What is accepted: Postfix's loader decides", rule by rule, on values made
// once for this file with the openssl command line; what each certificate is (its DER, key
// type, usages, digest) is read from openssl's own output. The corpus test holds the same
// loader to real Postfix; this file keeps each rule's reason and report fast to check.

const tempDir = tempDirs("mpi-loader-rules-");

function openssl(args: string[], input?: Buffer | string): Buffer {
  const result = Bun.spawnSync(["openssl", ...args], {
    stdin: input === undefined ? "ignore" : Buffer.from(input),
    stdout: "pipe",
    stderr: "pipe",
  });
  if (result.exitCode !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${result.stderr.toString()}`);
  return result.stdout;
}

interface Pair {
  key: Buffer;
  cert: Buffer;
}

let dir: string;
let rsa: Pair;
let ec: Pair;
let otherEc: Pair;
let ed25519: Pair;
let usages: Pair;
let tree: ReturnType<typeof chain>;
let sha1Leaf: Pair;

/** A self-signed certificate for a new key of `algorithm`, with extra `req` arguments. */
function selfSigned(name: string, algorithm: string[], extra: string[] = []): Pair {
  const key = openssl(["genpkey", ...algorithm]);
  const keyFile = join(dir, `${name}.key`);
  writeFileSync(keyFile, key, { mode: 0o600 });
  return { key, cert: openssl(["req", "-x509", "-new", "-key", keyFile, "-subj", `/CN=${name}.test`, "-days", "30", ...extra]) };
}

beforeAll(() => {
  dir = tempDir();
  const p256 = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"];
  rsa = selfSigned("rsa", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"]);
  ec = selfSigned("ec", p256);
  otherEc = selfSigned("other", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"]);
  ed25519 = selfSigned("ed25519", ["-algorithm", "ED25519"]);
  usages = selfSigned("usages", p256, [
    "-addext",
    "keyUsage=critical,keyEncipherment,keyAgreement",
    "-addext",
    "extendedKeyUsage=clientAuth",
  ]);
  tree = chain(dir);
  // A leaf signed with SHA-1 by the chain's intermediate (its own key: EC P-256).
  const leafKey = join(dir, "sha1.key");
  writeFileSync(leafKey, openssl(["genpkey", ...p256]), { mode: 0o600 });
  const intermediateKey = join(dir, "intermediate.key");
  const csr = openssl(["req", "-new", "-key", leafKey, "-subj", "/CN=sha1.test"]);
  const cert = openssl(
    ["x509", "-req", "-sha1", "-CA", join(dir, "intermediate.pem"), "-CAkey", intermediateKey, "-CAcreateserial", "-days", "30"],
    csr,
  );
  sha1Leaf = { key: openssl(["pkey", "-in", leafKey]), cert };
});

const cat = (...parts: (Buffer | string)[]) =>
  Buffer.concat(parts.map((part) => (typeof part === "string" ? Buffer.from(part, "latin1") : part)));
const der = (cert: Buffer) => new Uint8Array(openssl(["x509", "-outform", "DER"], cert));
/** A value made of named files joined as postmap -F joins them, with their spans. */
function files(...named: [string, Buffer][]): { value: Buffer; parts: ValuePart[] } {
  const parts: ValuePart[] = [];
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const [index, [file, bytes]] of named.entries()) {
    if (index > 0) {
      chunks.push(Buffer.from("\n"));
      offset++;
    }
    parts.push({ file, start: offset, end: offset + bytes.length });
    chunks.push(bytes);
    offset += bytes.length;
  }
  return { value: Buffer.concat(chunks), parts };
}
const judged = (...named: [string, Buffer][]) => {
  const { value, parts } = files(...named);
  return loadLikePostfix(value, parts);
};
const refusal = (verdict: LoadVerdict) => (verdict.loads ? "loads" : `${verdict.code}: ${verdict.reason}`);
const chains = (verdict: LoadVerdict) => {
  if (!verdict.loads) throw new Error(`refused: ${verdict.code}: ${verdict.reason}`);
  return verdict.chains;
};
/** Replace a PEM block's base64 with that of other bytes, keeping its label. */
const reframed = (label: string, bytes: Uint8Array) =>
  `-----BEGIN ${label}-----\n${Buffer.from(bytes)
    .toString("base64")
    .match(/.{1,64}/g)!
    .join("\n")}\n-----END ${label}-----\n`;

describe("what a loaded pair is", () => {
  test("an RSA key with its certificate: key type and size, the leaf's DER, no issuers, no usages", () => {
    const [loaded] = chains(judged(["key.pem", rsa.key], ["cert.pem", rsa.cert]));
    expect(loaded).toMatchObject({ keyType: "RSA", bits: 1024, issuers: [], weakSignatures: [] });
    expect(loaded!.curve).toBeUndefined();
    expect(loaded!.chainBreak).toBeUndefined();
    expect(loaded!.keyUsage).toBeUndefined();
    expect(loaded!.extendedKeyUsage).toBeUndefined();
    expect(Buffer.from(loaded!.leaf).equals(Buffer.from(der(rsa.cert)))).toBe(true);
  });

  test("an EC key reports its named curve; Ed25519 its own type", () => {
    expect(chains(judged(["key.pem", ec.key], ["cert.pem", ec.cert]))).toMatchObject([{ keyType: "EC", curve: "prime256v1", bits: 256 }]);
    expect(chains(judged(["key.pem", otherEc.key], ["cert.pem", otherEc.cert]))).toMatchObject([
      { keyType: "EC", curve: "secp384r1", bits: 384 },
    ]);
    const [edwards] = chains(judged(["key.pem", ed25519.key], ["cert.pem", ed25519.cert]));
    expect(edwards).toMatchObject({ keyType: "ED25519" });
    expect(edwards!.curve).toBeUndefined();
  });

  test("every key type OpenSSL gives Postfix is named: RSA-PSS, DSA, Ed448", () => {
    const pss = selfSigned("pss", ["-algorithm", "RSA-PSS", "-pkeyopt", "rsa_keygen_bits:1024"]);
    expect(chains(judged(["key.pem", pss.key], ["cert.pem", pss.cert]))).toMatchObject([{ keyType: "RSA-PSS", bits: 1024 }]);
    const params = join(dir, "dsa.params");
    writeFileSync(params, openssl(["genpkey", "-genparam", "-algorithm", "DSA", "-pkeyopt", "dsa_paramgen_bits:1024"]));
    const dsa = selfSigned("dsa", ["-paramfile", params], ["-sha256"]);
    expect(chains(judged(["key.pem", dsa.key], ["cert.pem", dsa.cert]))).toMatchObject([{ keyType: "DSA", bits: 1024 }]);
    const ed448 = selfSigned("ed448", ["-algorithm", "ED448"]);
    expect(chains(judged(["key.pem", ed448.key], ["cert.pem", ed448.cert]))).toMatchObject([{ keyType: "ED448" }]);
  });

  test("the leaf's keyUsage and extendedKeyUsage bits, as OpenSSL reports them", () => {
    const [loaded] = chains(judged(["key.pem", usages.key], ["cert.pem", usages.cert]));
    // KU_KEY_ENCIPHERMENT 0x20 | KU_KEY_AGREEMENT 0x08; XKU_SSL_CLIENT 0x2.
    expect(loaded).toMatchObject({ keyUsage: 0x28, extendedKeyUsage: 0x2 });
  });

  test("a chain in order: the issuers in file order, no break, and the root's own signature is not checked", () => {
    const [loaded] = chains(judged(["key.pem", tree.leaf.key], ["cert.pem", cat(tree.leaf.cert, tree.intermediate, tree.root)]));
    expect(loaded!.issuers.map((issuer) => Buffer.from(issuer))).toEqual([
      Buffer.from(der(tree.intermediate)),
      Buffer.from(der(tree.root)),
    ]);
    expect(loaded!.chainBreak).toBeUndefined();
    expect(loaded!.weakSignatures).toEqual([]);
  });

  test("a chain out of order: the first certificate that did not issue the one before it", () => {
    expect(chains(judged(["key.pem", tree.leaf.key], ["cert.pem", cat(tree.leaf.cert, tree.root, tree.intermediate)]))[0]!.chainBreak).toBe(
      2,
    );
    expect(chains(judged(["key.pem", tree.leaf.key], ["cert.pem", cat(tree.leaf.cert, tree.intermediate, rsa.cert)]))[0]!.chainBreak).toBe(
      3,
    );
  });

  test("a certificate signed with SHA-1 by its issuer is a weak signature, named by OpenSSL's digest name", () => {
    const [loaded] = chains(judged(["key.pem", sha1Leaf.key], ["cert.pem", cat(sha1Leaf.cert, tree.intermediate)]));
    expect(loaded!.weakSignatures).toEqual([{ index: 1, digest: "SHA1" }]);
    const selfSignedSha1 = selfSigned("self-sha1", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"], ["-sha1"]);
    expect(chains(judged(["key.pem", selfSignedSha1.key], ["cert.pem", selfSignedSha1.cert]))[0]!.weakSignatures).toEqual([]);
  });

  test("two key + chain groups of different key types both load, in file order", () => {
    const verdict = judged(["key.pem", rsa.key], ["cert.pem", rsa.cert], ["ecdsa-key.pem", ec.key], ["ecdsa-cert.pem", ec.cert]);
    expect(chains(verdict).map((loaded) => loaded.keyType)).toEqual(["RSA", "EC"]);
  });
});

describe("what Postfix reads as keys and certificates", () => {
  test("PKCS#1 and SEC1 keys, an X509 CERTIFICATE label, EC PARAMETERS skipped", () => {
    const pkcs1 = openssl(["pkey", "-traditional"], rsa.key);
    expect(pkcs1.toString()).toContain("BEGIN RSA PRIVATE KEY");
    expect(chains(judged(["key.pem", pkcs1], ["cert.pem", rsa.cert]))).toMatchObject([{ keyType: "RSA" }]);
    const sec1 = cat(openssl(["ecparam", "-name", "prime256v1"]), openssl(["pkey", "-traditional"], ec.key));
    expect(sec1.toString()).toContain("BEGIN EC PRIVATE KEY");
    const x509Label = Buffer.from(ec.cert.toString().replaceAll("CERTIFICATE", "X509 CERTIFICATE"));
    expect(chains(judged(["key.pem", sec1], ["cert.pem", x509Label]))).toMatchObject([{ keyType: "EC" }]);
  });

  test("a DSA key in its traditional form is a key; a PKCS#1 key under the PKCS#8 label is not", () => {
    const params = join(dir, "dsa-traditional.params");
    writeFileSync(params, openssl(["genpkey", "-genparam", "-algorithm", "DSA", "-pkeyopt", "dsa_paramgen_bits:1024"]));
    const dsa = selfSigned("dsa-traditional", ["-paramfile", params], ["-sha256"]);
    const traditional = openssl(["pkey", "-traditional"], dsa.key);
    expect(traditional.toString()).toContain("BEGIN DSA PRIVATE KEY");
    expect(chains(judged(["key.pem", traditional], ["cert.pem", dsa.cert]))).toMatchObject([{ keyType: "DSA" }]);
    const pkcs1 = openssl(["pkey", "-traditional"], rsa.key).toString().replaceAll("RSA PRIVATE KEY", "PRIVATE KEY");
    expect(refusal(judged(["key.pem", Buffer.from(pkcs1)], ["cert.pem", rsa.cert]))).toStartWith(
      "key-invalid: the private key (PEM object 1, in key.pem) does not parse",
    );
  });

  test("a value whose last file has no newline after its END line loads", () => {
    const bare = Buffer.from(ec.cert.toString().trimEnd());
    expect(bare.at(-1)).toBe("-".charCodeAt(0));
    expect(chains(judged(["key.pem", ec.key], ["cert.pem", bare]))).toHaveLength(1);
  });

  test("labels Postfix skips: a TRUSTED CERTIFICATE is no certificate, an ENCRYPTED PRIVATE KEY no key", () => {
    const trusted = openssl(["x509", "-trustout"], ec.cert);
    expect(refusal(judged(["key.pem", ec.key], ["cert.pem", trusted]))).toBe(
      "cert-missing: no certificate follows the private key in key.pem",
    );
    const encrypted = openssl(["pkey", "-aes256", "-passout", "pass:secret"], ec.key);
    expect(refusal(judged(["key.pem", encrypted], ["cert.pem", ec.cert]))).toBe(
      "key-not-first: the first PEM object (in cert.pem) is a certificate: Postfix wants the private key first",
    );
  });

  test("a key of another format under a key label does not parse; an encrypted traditional key says so", () => {
    const mislabelled = Buffer.from(ec.key.toString().replaceAll("PRIVATE KEY", "RSA PRIVATE KEY"));
    expect(refusal(judged(["key.pem", mislabelled], ["cert.pem", ec.cert]))).toStartWith(
      "key-invalid: the private key (PEM object 1, in key.pem) does not parse (OpenSSL: ",
    );
    const encrypted = openssl(["ec", "-aes256", "-passout", "pass:secret"], ec.key);
    expect(refusal(judged(["key.pem", encrypted], ["cert.pem", ec.cert]))).toStartWith(
      "key-invalid: the private key (PEM object 1, in key.pem, encrypted) does not parse",
    );
  });

  test("a key that does not parse, judged with the run's memo of decoded keys: refused each time, as alone", () => {
    const notAKey = Buffer.from(reframed("PRIVATE KEY", der(ec.cert)));
    const traditional = Buffer.from(ec.key.toString().replaceAll("PRIVATE KEY", "RSA PRIVATE KEY"));
    const keys = new DecodedKeys();
    try {
      for (const key of [notAKey, notAKey, traditional, traditional]) {
        const { value, parts } = files(["key.pem", key], ["cert.pem", ec.cert]);
        expect(refusal(loadLikePostfix(value, parts, keys))).toBe(refusal(loadLikePostfix(value, parts)));
      }
    } finally {
      keys.free();
    }
  });

  test("a PKCS#8 block that is not a key does not parse", () => {
    const notAKey = reframed("PRIVATE KEY", der(ec.cert));
    expect(refusal(judged(["key.pem", Buffer.from(notAKey)], ["cert.pem", ec.cert]))).toBe(
      "key-invalid: the private key (PEM object 1, in key.pem) does not parse (OpenSSL: nested asn1 error)",
    );
  });

  test("a certificate block that is not a certificate does not parse, counted as the value's PEM objects", () => {
    const params = openssl(["ecparam", "-name", "prime256v1"]);
    const notACert = reframed("CERTIFICATE", new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]));
    expect(refusal(judged(["key.pem", cat(params, ec.key)], ["cert.pem", Buffer.from(notACert)]))).toBe(
      "cert-invalid: a certificate (PEM object 3, in cert.pem) does not parse (OpenSSL: nested asn1 error)",
    );
  });

  test("extra bytes after a certificate's or a key's DER inside one PEM block", () => {
    const certPlus = reframed("CERTIFICATE", cat(Buffer.from(der(ec.cert)), Buffer.from([0x05, 0x00])));
    expect(refusal(judged(["key.pem", ec.key], ["cert.pem", Buffer.from(certPlus)]))).toBe(
      "cert-invalid: a certificate (PEM object 2, in cert.pem) has extra bytes after its end",
    );
    const issuerPlus = reframed("CERTIFICATE", cat(Buffer.from(der(tree.intermediate)), Buffer.from([0x05, 0x00])));
    expect(refusal(judged(["key.pem", tree.leaf.key], ["cert.pem", cat(tree.leaf.cert, issuerPlus)]))).toBe(
      "cert-invalid: a certificate (PEM object 3, in cert.pem) has extra bytes after its end",
    );
    const keyDer = openssl(["pkey", "-outform", "DER"], ec.key);
    const keyPlus = reframed("PRIVATE KEY", cat(keyDer, Buffer.from([0x05, 0x00])));
    // OpenSSL's PKCS#8 reader already refuses it; the traditional reader stops at the DER's end.
    expect(refusal(judged(["key.pem", Buffer.from(keyPlus)], ["cert.pem", ec.cert]))).toStartWith(
      "key-invalid: the private key (PEM object 1, in key.pem) ",
    );
    const traditionalDer = openssl(["pkey", "-traditional", "-outform", "DER"], ec.key);
    const traditionalPlus = reframed("EC PRIVATE KEY", cat(traditionalDer, Buffer.from([0x05, 0x00])));
    expect(refusal(judged(["key.pem", Buffer.from(traditionalPlus)], ["cert.pem", ec.cert]))).toBe(
      "key-invalid: the private key (PEM object 1, in key.pem) has extra bytes after its end",
    );
  });
});

describe("order and damage, with the file each refusal is in", () => {
  test("a damaged PEM block names the file it is in and OpenSSL's reason (PEM_R_BAD_END_LINE, PEM_R_BAD_BASE64_DECODE)", () => {
    const half = ec.cert.subarray(0, Math.floor(ec.cert.length / 2));
    expect(refusal(judged(["key.pem", ec.key], ["cert.pem", half]))).toBe(
      "pem-damaged: a PEM block in cert.pem is damaged (OpenSSL: bad end line)",
    );
    expect(refusal(loadLikePostfix(cat(ec.key, "\n", half)))).toBe(
      "pem-damaged: a PEM block in the value is damaged (OpenSSL: bad end line)",
    );
    // A block with nothing between its lines: OpenSSL gives no reason of its own.
    expect(
      refusal(judged(["key.pem", ec.key], ["cert.pem", Buffer.from("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")])),
    ).toBe("pem-damaged: a PEM block in cert.pem is damaged (OpenSSL: read error)");
    const badBase64 = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
    expect(refusal(judged(["key.pem", ec.key], ["cert.pem", Buffer.from(badBase64)]))).toBe(
      "pem-damaged: a PEM block in cert.pem is damaged (OpenSSL: bad base64 decode)",
    );
  });

  test("two keys in a row: in one file, or across two files", () => {
    expect(refusal(judged(["key.pem", cat(ec.key, otherEc.key)], ["cert.pem", ec.cert]))).toBe(
      "key-twice: two private keys in a row in key.pem: no certificate follows the first",
    );
    expect(refusal(judged(["key.pem", ec.key], ["cert.pem", cat(otherEc.key, ec.cert)]))).toBe(
      "key-twice: two private keys in a row (key.pem, then cert.pem): no certificate follows the first",
    );
  });

  test("a key that is not the certificate's names both files, in OpenSSL's words", () => {
    expect(refusal(judged(["key.pem", otherEc.key], ["cert.pem", ec.cert]))).toMatch(
      /^key-mismatch: the private key in key\.pem does not match the certificate in cert\.pem \(OpenSSL: .*mismatch.*\)$/,
    );
  });

  test("a second group whose key does not match is refused after the first group loaded", () => {
    expect(
      refusal(judged(["key.pem", rsa.key], ["cert.pem", rsa.cert], ["ecdsa-key.pem", otherEc.key], ["ecdsa-cert.pem", ec.cert])),
    ).toMatch(/^key-mismatch: the private key in ecdsa-key\.pem does not match the certificate in ecdsa-cert\.pem/);
  });

  test("two groups of the same key type: OpenSSL refuses the second, naming its files", () => {
    expect(
      refusal(judged(["key.pem", ec.key], ["cert.pem", ec.cert], ["ecdsa-key.pem", otherEc.key], ["ecdsa-cert.pem", otherEc.cert])),
    ).toBe("pair-refused: OpenSSL refuses the key in ecdsa-key.pem with the certificate in ecdsa-cert.pem (not replacing certificate)");
  });

  test("a key first in a group that follows a refused pair is not read", () => {
    // The first group's key does not match: the verdict is that, not the later groups.
    expect(
      refusal(judged(["key.pem", otherEc.key], ["cert.pem", ec.cert], ["ecdsa-key.pem", rsa.key], ["ecdsa-cert.pem", rsa.cert])),
    ).toStartWith("key-mismatch: the private key in key.pem does not match the certificate in cert.pem");
  });

  test("a file without a newline after its END line still names itself (postmap's separator ends its last line)", () => {
    const keyWithoutNewline = Buffer.from(otherEc.key.toString().trimEnd());
    expect(refusal(judged(["key.pem", keyWithoutNewline], ["cert.pem", ec.cert]))).toMatch(
      /^key-mismatch: the private key in key\.pem does not match the certificate in cert\.pem \(OpenSSL: /,
    );
    expect(refusal(judged(["key.pem", keyWithoutNewline], ["cert.pem", Buffer.from("not pem")]))).toBe(
      "cert-missing: no certificate follows the private key in key.pem",
    );
  });

  test("bytes that no part names are the value's (parts need not cover it all)", () => {
    const badBase64 = Buffer.from("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n");
    const { value } = files(["key.pem", ec.key], ["cert.pem", badBase64]);
    const keyOnly: ValuePart[] = [{ file: "key.pem", start: 0, end: ec.key.length }];
    expect(refusal(loadLikePostfix(value, keyOnly))).toBe("pem-damaged: a PEM block in the value is damaged (OpenSSL: bad base64 decode)");
  });

  test("a key with nothing after it, and text without any PEM object", () => {
    expect(refusal(judged(["key.pem", ec.key], ["cert.pem", Buffer.from("not pem\n")]))).toBe(
      "cert-missing: no certificate follows the private key in key.pem",
    );
    expect(refusal(loadLikePostfix(Buffer.from("hello\n")))).toBe("no-pem: no PEM private key or certificate Postfix can read");
    expect(refusal(loadLikePostfix(new Uint8Array(0)))).toBe("no-pem: no PEM private key or certificate Postfix can read");
    expect(refusal(loadLikePostfix(openssl(["x509", "-outform", "DER"], ec.cert)))).toStartWith("no-pem:");
  });

  test("the value ends at its first NUL byte: what follows is never read", () => {
    expect(refusal(loadLikePostfix(cat(Buffer.from([0]), ec.key, "\n", ec.cert)))).toStartWith("no-pem:");
    expect(chains(loadLikePostfix(cat(ec.key, "\n", ec.cert, Buffer.from([0]), otherEc.key)))).toHaveLength(1);
    // A NUL in each file: the value ends at the first one, inside the key file.
    expect(refusal(judged(["key.pem", cat(ec.key, Buffer.from([0]))], ["cert.pem", cat(ec.cert, Buffer.from([0]), "junk")]))).toBe(
      "cert-missing: no certificate follows the private key in key.pem",
    );
  });
});
