import { ptr, type Pointer } from "bun:ffi";
import { cString, type OpenSsl } from "./openssl.ts";

// What a chain Postfix's loader installed is (postfix-loader.ts): the key's type and size, the
// leaf's usages, weak signatures and where the chain order breaks, read from OpenSSL's objects.

/** One key with its certificate chain, as Postfix would install it. */
export interface LoadedChain {
  /** OpenSSL's key type: RSA, RSA-PSS, EC, ED25519, ED448, DSA, or another short name. */
  keyType: string;
  /** Named curve of an EC key (OpenSSL's name, e.g. prime256v1). */
  curve?: string;
  bits: number;
  /** DER of the leaf certificate and of the issuers after it, in file order. */
  leaf: Uint8Array;
  issuers: Uint8Array[];
  /** 1-based index of the first chain certificate that did not issue the one before it. */
  chainBreak?: number;
  /** The leaf's keyUsage bits (OpenSSL's KU_* values), absent when it has no keyUsage extension. */
  keyUsage?: number;
  /** The leaf's extendedKeyUsage (OpenSSL's XKU_* bits), absent when it has none. */
  extendedKeyUsage?: number;
  /** Certificates (1-based: 1 = leaf) signed with a digest verifying clients refuse (MD5, SHA1); self-signed ones are never checked. */
  weakSignatures: { index: number; digest: string }[];
}

/** The key types whose OpenSSL short name is not the usual one (rsaEncryption, RSASSA-PSS, id-ecPublicKey); the others' (DSA, ED25519, ED448) is. */
const KEY_TYPE_NAMES = new Map<number, string>([
  [6, "RSA"],
  [912, "RSA-PSS"],
  [408, "EC"],
]);
/** What X509_get_key_usage / X509_get_extended_key_usage return for a certificate without the extension. */
const NO_EXTENSION = 0xffffffff;
/** Digests (OpenSSL NIDs) of certificate signatures that verifying clients refuse: MD2, MD4, MD5, MD5-SHA1, SHA1. */
const WEAK_DIGESTS = new Set([3, 257, 4, 114, 64]);

/** The installed chain of `key`, its `certificate` (DER `certificateDer`) and `issuers`, in file order. */
export function describeLoadedChain(
  openssl: OpenSsl,
  key: Pointer,
  certificate: Pointer,
  certificateDer: Uint8Array,
  issuers: readonly { x509: Pointer; der: Uint8Array }[],
): LoadedChain {
  const { crypto } = openssl;
  const baseId = crypto.EVP_PKEY_get_base_id(key);
  const chain: LoadedChain = {
    keyType: KEY_TYPE_NAMES.get(baseId) ?? cString(crypto.OBJ_nid2sn(baseId)),
    bits: crypto.EVP_PKEY_get_bits(key),
    leaf: certificateDer,
    issuers: issuers.map((issuer) => issuer.der),
    weakSignatures: [],
  };
  const keyUsage = crypto.X509_get_key_usage(certificate);
  if (keyUsage !== NO_EXTENSION) chain.keyUsage = keyUsage;
  const extendedKeyUsage = crypto.X509_get_extended_key_usage(certificate);
  if (extendedKeyUsage !== NO_EXTENSION) chain.extendedKeyUsage = extendedKeyUsage;
  for (const [index, x509] of [certificate, ...issuers.map((issuer) => issuer.x509)].entries()) {
    const digest = weakDigest(openssl, x509);
    if (digest) chain.weakSignatures.push({ index: index + 1, digest });
  }
  // Of the keys a TLS server can use, only an EC key has a group name (the call fails for the others).
  const name = new Uint8Array(80);
  const written = new BigUint64Array(1);
  if (crypto.EVP_PKEY_get_group_name(key, ptr(name), BigInt(name.length), ptr(written)) === 1) {
    chain.curve = new TextDecoder().decode(name.subarray(0, Number(written[0])));
  }
  let subject = certificate;
  for (const [index, issuer] of issuers.entries()) {
    if (crypto.X509_check_issued(issuer.x509, subject) !== 0) {
      chain.chainBreak = index + 2;
      break;
    }
    subject = issuer.x509;
  }
  return chain;
}

/** The digest of x509's signature when it is one verifying clients refuse (a self-signed certificate's own signature is never checked). */
function weakDigest(openssl: OpenSsl, x509: Pointer): string | undefined {
  const { crypto } = openssl;
  if (crypto.X509_check_issued(x509, x509) === 0) return undefined;
  const digest = new Int32Array(1);
  if (crypto.X509_get_signature_info(x509, ptr(digest), null, null, null) !== 1 || !WEAK_DIGESTS.has(digest[0]!)) return undefined;
  return cString(crypto.OBJ_nid2sn(digest[0]!));
}
