import type { LoadedChain } from "./loaded-chain.ts";
import type { KeyPairFiles } from "./types.ts";

// Pure: can the clients the default certificate serves complete a handshake with this value?
// Postfix loading a value is not enough: OpenSSL (in smtpd) then picks, per handshake, one of
// the value's key+chain groups that the protocol and the client's signature algorithms allow,
// and the client checks what it gets. These rules are OpenSSL's and GnuTLS's own checks, for
// TLS 1.3 and TLS 1.2, as real clients measured them (test/integration/client-handshake-corpus):
//
// - RSA-PSS-SHA256 needs 66 bytes of modulus (OpenSSL's rsa_pss_check_min_key_size): with a
//   smaller RSA key smtpd has no TLS 1.3 signature ("no suitable signature algorithm"), and an
//   RSA-PSS key none at all. From 521 to 527 bits the check passes but the PSS encoding does
//   not fit: smtpd picks RSA-PSS in both protocols and fails ("data too large for key size").
// - A keyUsage without digitalSignature: GnuTLS clients abort ("key usage violation"); for an
//   EC key OpenSSL offers no ECDSA cipher in TLS 1.2 either ("no shared cipher").
// - OpenSSL clients (s_client, posttls-finger, anything on libssl) refuse a Certificate message
//   over 100 KiB ("excessive message size"); GnuTLS accepts up to 128 KiB.
//
// A group that is unusable for a protocol is harmless when the server never picks it and
// another group serves that protocol (RSA-512 beside a good ECDSA pair: TLS 1.3 gets the ECDSA
// pair); a group the server may pick and a client then refuses makes the value unusable.

/** OpenSSL's default max_cert_list: the largest Certificate message its clients accept. */
export const MAX_CERTIFICATE_MESSAGE = 100 * 1024;
/** Smallest RSA modulus (bits) an RSA-PSS-SHA256 signature with a 32-byte salt fits in. */
const RSA_PSS_MIN_BITS = 528;
/** Below this (fewer than 66 modulus bytes) OpenSSL does not even try RSA-PSS-SHA256. */
const RSA_PSS_TRIED_BITS = 521;
const KU_DIGITAL_SIGNATURE = 0x80;
const XKU_SSL_SERVER = 0x1;
const XKU_ANYEKU = 0x100;
/** The usages a certificate without digitalSignature may have (only those are ever named). */
const KEY_USAGE_NAMES: [number, string][] = [
  [0x40, "nonRepudiation"],
  [0x20, "keyEncipherment"],
  [0x10, "dataEncipherment"],
  [0x08, "keyAgreement"],
  [0x04, "keyCertSign"],
  [0x02, "cRLSign"],
  [0x01, "encipherOnly"],
  [0x8000, "decipherOnly"],
];

export type Protocol = "TLS 1.3" | "TLS 1.2";
const PROTOCOLS: readonly Protocol[] = ["TLS 1.3", "TLS 1.2"];

/** How one key+chain group fails in one protocol: never picked by the server, or picked and then refused (undefined: fine). */
type Unfit = { kind: "skipped" | "refused"; code: string; reason: string };

export interface ClientFitFailure {
  code: string;
  /** What clients do, naming the file and OpenSSL's (or GnuTLS's) words. */
  reason: string;
}

/** Why the clients cannot use the value made of `chains` (one per pair, in order), or undefined when they can. */
export function clientFitFailure(chains: readonly { chain: LoadedChain; files: KeyPairFiles }[]): ClientFitFailure | undefined {
  for (const protocol of PROTOCOLS) {
    const unfits = chains.map(({ chain, files }) => unfitFor(chain, files, protocol));
    // A group refused, or none the server can pick (the first group's reason speaks for all).
    const failing =
      unfits.find((unfit) => unfit?.kind === "refused") ?? (unfits.every((unfit) => unfit?.kind === "skipped") ? unfits[0] : undefined);
    if (failing) return { code: failing.code, reason: failing.reason };
  }
  return undefined;
}

function unfitFor(chain: LoadedChain, files: KeyPairFiles, protocol: Protocol): Unfit | undefined {
  const rsa = chain.keyType === "RSA" || chain.keyType === "RSA-PSS";
  if (rsa && chain.bits < RSA_PSS_TRIED_BITS && (protocol === "TLS 1.3" || chain.keyType === "RSA-PSS")) {
    return {
      kind: "skipped",
      code: "rsa-key-too-small",
      reason: `${files.keyFile} is a ${chain.bits}-bit ${chain.keyType} key, too small for an RSA-PSS-SHA256 signature (at least ${RSA_PSS_MIN_BITS} bits): every ${protocol} handshake fails (OpenSSL: no suitable signature algorithm)`,
    };
  }
  if (rsa && chain.bits < RSA_PSS_MIN_BITS && chain.bits >= RSA_PSS_TRIED_BITS) {
    return {
      kind: "refused",
      code: "rsa-key-too-small",
      reason: `${files.keyFile} is a ${chain.bits}-bit ${chain.keyType} key: smtpd picks RSA-PSS-SHA256 and cannot make the signature (OpenSSL: data too large for key size), every handshake fails; use at least 2048 bits`,
    };
  }
  if (chain.keyUsage !== undefined && (chain.keyUsage & KU_DIGITAL_SIGNATURE) === 0) {
    const usage = `${files.certFile}: the certificate's keyUsage (${keyUsageNames(chain.keyUsage)}) lacks digitalSignature`;
    // An EC group is also never picked in TLS 1.2 (no ECDSA cipher): TLS 1.3, judged first, refuses it already.
    return {
      kind: "refused",
      code: "key-usage",
      reason: `${usage}: GnuTLS clients abort the handshake (key usage violation)${chain.keyType === "EC" ? " and TLS 1.2 clients find no cipher (OpenSSL: no shared cipher)" : ""}`,
    };
  }
  const size = certificateMessageBytes(chain, protocol);
  if (size > MAX_CERTIFICATE_MESSAGE) {
    return {
      kind: "refused",
      code: "chain-too-large",
      reason: `${files.certFile} holds ${1 + chain.issuers.length} certificates, a ${size}-byte ${protocol} Certificate message: OpenSSL-based clients accept at most ${MAX_CERTIFICATE_MESSAGE} (OpenSSL: excessive message size); keep the leaf and its intermediates only`,
    };
  }
  return undefined;
}

/** The body of the Certificate message smtpd sends for this chain (TLS 1.3 adds a context byte and empty extensions). */
export function certificateMessageBytes(chain: LoadedChain, protocol: Protocol): number {
  const perCertificate = protocol === "TLS 1.3" ? 5 : 3;
  const certificates = [chain.leaf, ...chain.issuers];
  return (protocol === "TLS 1.3" ? 4 : 3) + certificates.reduce((total, der) => total + der.length + perCertificate, 0);
}

/** What verifying clients will refuse although the handshake completes: a warning each (code, text without the directory). */
export function verifierWarnings(chain: LoadedChain, files: KeyPairFiles): { code: string; message: string }[] {
  const warnings: { code: string; message: string }[] = [];
  if (chain.extendedKeyUsage !== undefined && (chain.extendedKeyUsage & (XKU_SSL_SERVER | XKU_ANYEKU)) === 0) {
    warnings.push({
      code: "not-for-servers",
      message: `${files.certFile}: the certificate's extendedKeyUsage lacks serverAuth; handshakes complete, but clients that verify will reject it`,
    });
  }
  for (const { index, digest } of chain.weakSignatures) {
    const which = index === 1 ? "the certificate" : `certificate ${index} of the chain`;
    warnings.push({
      code: "weak-signature",
      message: `${files.certFile}: ${which} is signed with ${digest}; handshakes complete, but clients that verify will reject it`,
    });
  }
  return warnings;
}

function keyUsageNames(bits: number): string {
  return (
    KEY_USAGE_NAMES.filter(([bit]) => (bits & bit) !== 0)
      .map(([, name]) => name)
      .join(", ") || "none"
  );
}
