import { TAG, bitStringBytes, hasTags, readItems, readSingle, sameBytes, unsignedBytes, type Tlv } from "./der.ts";

// Postfix takes a key for a certificate when OpenSSL's X509_check_private_key says so: the
// key's public part equals the certificate's public key. It never checks the private part.
// RSA private keys carry their public part (modulus and exponent), and EC keys usually carry
// their public point, so the same test needs no key import: walking the key's DER costs
// ~0.01 ms, importing an RSA-2048 key ~0.15 ms (BoringSSL runs a full consistency check).
// Everything this file does not read answers undefined, and the caller imports the key.

export type PublicKey =
  | { type: "rsa"; modulus: Uint8Array; exponent: Uint8Array }
  | { type: "ec"; curve: Uint8Array; point: Uint8Array };

/** rsaEncryption 1.2.840.113549.1.1.1 and id-ecPublicKey 1.2.840.10045.2.1, content bytes. */
const OID_RSA = Uint8Array.of(0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01);
const OID_EC = Uint8Array.of(0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01);

/** Unencrypted private key labels: PKCS#1, SEC1, PKCS#8. */
const KEY_LABELS = new Set(["RSA PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY"]);
/** Base64 lines as PEM writers produce them (headers such as Proc-Type: mean encryption). */
const PEM_BODY = /^\r?\n(?:[A-Za-z0-9+/]{1,76}={0,2}\r?\n)+$/;

/**
 * The public key of the one private key in a PEM file. Undefined when the file holds no key
 * or several, an encrypted one (label or headers), another algorithm (Ed25519, DSA, RSA-PSS,
 * multi-prime RSA), an EC key without its optional public point, or DER this walker rejects.
 */
export function publicKeyOfPrivateKeyPem(pem: string): PublicKey | undefined {
  const block = onlyPrivateKeyBlock(pem);
  if (!block || !KEY_LABELS.has(block.label) || !PEM_BODY.test(block.body)) return undefined;
  const der = Buffer.from(block.body, "base64"); // line breaks are skipped
  if (block.label === "RSA PRIVATE KEY") return rsaPrivateKey(der);
  if (block.label === "EC PRIVATE KEY") return ecPrivateKey(der, undefined);
  return privateKeyInfo(der);
}

/** The label and body of the only `-----BEGIN ... PRIVATE KEY-----` block, if there is one. */
function onlyPrivateKeyBlock(pem: string): { label: string; body: string } | undefined {
  let found: { label: string; body: string } | undefined;
  let position = 0;
  for (;;) {
    const begin = pem.indexOf("-----BEGIN ", position);
    if (begin === -1) return found;
    const labelEnd = pem.indexOf("-----", begin + 11);
    if (labelEnd === -1) return undefined;
    const label = pem.slice(begin + 11, labelEnd);
    const end = pem.indexOf(`-----END ${label}-----`, labelEnd + 5);
    if (end === -1) return undefined;
    if (label.endsWith("PRIVATE KEY")) {
      if (found) return undefined;
      found = { label, body: pem.slice(labelEnd + 5, end) };
    }
    position = end + label.length + 14;
  }
}

/** The subjectPublicKeyInfo of an X.509 certificate (DER), for RSA and EC keys. */
export function publicKeyOfCertificate(der: Uint8Array): PublicKey | undefined {
  const certificate = readSingle(der, TAG.SEQUENCE);
  if (!hasTags(certificate, [TAG.SEQUENCE, TAG.SEQUENCE, TAG.BIT_STRING])) return undefined;
  // [0] version (absent in v1), serial, signature, issuer, validity, subject, subjectPublicKeyInfo.
  const tbs = readItems(certificate[0]!.content);
  const spki = tbs?.[(tbs[0]?.tag === TAG.CONTEXT_0 ? 1 : 0) + 5];
  if (spki?.tag !== TAG.SEQUENCE) return undefined;
  const items = readItems(spki.content);
  if (!hasTags(items, [TAG.SEQUENCE, TAG.BIT_STRING])) return undefined;
  const algorithm = readItems(items[0]!.content);
  const bits = bitStringBytes(items[1]);
  if (!algorithm || !bits || algorithm[0]?.tag !== TAG.OID) return undefined;
  if (sameBytes(algorithm[0].content, OID_RSA)) {
    const rsa = readSingle(bits, TAG.SEQUENCE);
    if (!hasTags(rsa, [TAG.INTEGER, TAG.INTEGER])) return undefined;
    return { type: "rsa", modulus: unsignedBytes(rsa[0]!.content), exponent: unsignedBytes(rsa[1]!.content) };
  }
  if (sameBytes(algorithm[0].content, OID_EC) && hasTags(algorithm, [TAG.OID, TAG.OID])) {
    return { type: "ec", curve: algorithm[1]!.content, point: bits };
  }
  return undefined;
}

/** Equal public keys: true/false; undefined when the encodings differ in form (compressed EC point). */
export function samePublicKey(a: PublicKey, b: PublicKey): boolean | undefined {
  if (a.type === "rsa" && b.type === "rsa") return sameBytes(a.modulus, b.modulus) && sameBytes(a.exponent, b.exponent);
  if (a.type === "ec" && b.type === "ec") {
    if (!sameBytes(a.curve, b.curve)) return false;
    if ((a.point[0] === 0x04) !== (b.point[0] === 0x04)) return undefined;
    return sameBytes(a.point, b.point);
  }
  return false;
}

/**
 * Postfix's test without a key import: true when the key file's public key is the
 * certificate's, false when it is another key, undefined when this file cannot tell.
 */
export function keyMatchesCertificate(keyPem: string, certificateDer: Uint8Array): boolean | undefined {
  const key = publicKeyOfPrivateKeyPem(keyPem);
  const certificate = key && publicKeyOfCertificate(certificateDer);
  return certificate ? samePublicKey(key!, certificate) : undefined;
}

/** PKCS#1 RSAPrivateKey: version 0, n, e, d, p, q, dP, dQ, qInv (version 1 is multi-prime). */
function rsaPrivateKey(der: Uint8Array): PublicKey | undefined {
  const items = readSingle(der, TAG.SEQUENCE);
  if (!hasTags(items, Array<number>(9).fill(TAG.INTEGER)) || !isSmallInteger(items[0], 0)) return undefined;
  return { type: "rsa", modulus: unsignedBytes(items[1]!.content), exponent: unsignedBytes(items[2]!.content) };
}

/** SEC1 ECPrivateKey: version 1, privateKey, [0] curve (optional), [1] public point (optional). */
function ecPrivateKey(der: Uint8Array, pkcs8Curve: Uint8Array | undefined): PublicKey | undefined {
  const items = readSingle(der, TAG.SEQUENCE);
  if (!items || items.length < 2 || !isSmallInteger(items[0], 1) || items[1]!.tag !== TAG.OCTET_STRING) return undefined;
  let curve = pkcs8Curve;
  let point: Uint8Array | undefined;
  let rest = items.slice(2);
  if (rest[0]?.tag === TAG.CONTEXT_0) {
    const oid = readItems(rest[0].content);
    if (!hasTags(oid, [TAG.OID]) || (curve && !sameBytes(curve, oid[0]!.content))) return undefined;
    curve = oid[0]!.content;
    rest = rest.slice(1);
  }
  if (rest[0]?.tag === TAG.CONTEXT_1) {
    const bits = readItems(rest[0].content);
    point = bits?.length === 1 ? bitStringBytes(bits[0]) : undefined;
    rest = rest.slice(1);
  }
  return rest.length === 0 && curve && point && point.length > 0 ? { type: "ec", curve, point } : undefined;
}

/** PKCS#8 PrivateKeyInfo: version, algorithm, privateKey, [0] attributes, [1] public key (v2). */
function privateKeyInfo(der: Uint8Array): PublicKey | undefined {
  const items = readSingle(der, TAG.SEQUENCE);
  if (!items || items.length < 3 || items.length > 5) return undefined;
  const [version, algorithmItem, privateKey, ...rest] = items as [Tlv, Tlv, Tlv, ...Tlv[]];
  if (!(isSmallInteger(version, 0) || isSmallInteger(version, 1)) || algorithmItem.tag !== TAG.SEQUENCE || privateKey.tag !== TAG.OCTET_STRING) return undefined;
  const optional = rest.map((item) => item.tag);
  if (!(optional.length === 0 || [[TAG.CONTEXT_0], [TAG.CONTEXT_1_PRIMITIVE], [TAG.CONTEXT_0, TAG.CONTEXT_1_PRIMITIVE]].some((tags) => tags.join() === optional.join()))) return undefined;
  const algorithm = readItems(algorithmItem.content);
  if (algorithm?.[0]?.tag !== TAG.OID) return undefined;
  if (sameBytes(algorithm[0].content, OID_RSA)) {
    const parametersOk = algorithm.length === 1 || (algorithm.length === 2 && algorithm[1]!.tag === TAG.NULL && algorithm[1]!.content.length === 0);
    return parametersOk ? rsaPrivateKey(privateKey.content) : undefined;
  }
  if (sameBytes(algorithm[0].content, OID_EC) && hasTags(algorithm, [TAG.OID, TAG.OID])) {
    return ecPrivateKey(privateKey.content, algorithm[1]!.content);
  }
  return undefined;
}

function isSmallInteger(item: Tlv | undefined, value: number): boolean {
  return item?.tag === TAG.INTEGER && item.content.length === 1 && item.content[0] === value;
}
