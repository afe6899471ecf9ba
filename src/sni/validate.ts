import { X509Certificate, createPrivateKey, type KeyObject } from "node:crypto";
import { MAX_PEM_BYTES, describeReadFailure, readBoundedText } from "../bounded-read.ts";
import type { PairCache } from "./cache.ts";
import { keyMatchesCertificate } from "./key-match.ts";
import type { CertificateSource, KeyPairFiles, PairReport, Problem, ValidatedSource } from "./types.ts";

// A pair is checked before it is mapped: a broken pair in sni.map aborts every handshake
// for its names (FACTS.md), while an unmapped name merely gets the default chain.

const DAY_MS = 24 * 60 * 60 * 1000;
/** Certificates closer than this to expiry are reported (acme renews 30 days ahead). */
export const EXPIRY_WARNING_DAYS = 14;

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

export function validateSource(source: CertificateSource, now: Date, cache?: PairCache, known?: ReadonlyMap<string, string>): { validated: ValidatedSource; problems: Problem[] } {
  const problems: Problem[] = [];
  const check = (files: KeyPairFiles) => {
    const report = cache ? cache.validate(files, validatePair, known) : validatePair(files);
    problems.push(...pairWarnings(report, source.dir, now));
    return report;
  };
  const rsa = check(source.rsa);
  const ecdsa = source.ecdsa ? check(source.ecdsa) : undefined;
  return { validated: { source, rsa, ecdsa, usable: rsa.valid }, problems };
}

/**
 * Parse chain and key, check the key belongs to the leaf. Never throws. The result depends on
 * the two files' contents only (not on the time), so it can be cached by file identity.
 */
export function validatePair(files: KeyPairFiles): PairReport {
  const report: PairReport = { files, certificateNames: [], keyMatches: false, valid: false };
  // Errors are not reported here: the plan words them once per source, with their consequence.
  const fail = (code: string, reason: string) => {
    report.failure = { code, reason };
    return report;
  };

  const certText = readText(files.certFile);
  if (typeof certText !== "string") return fail("cert-unreadable", `cannot read ${files.certFile} (${certText.code})`);
  const blocks = certText.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) return fail("cert-invalid", `${files.certFile} holds no PEM certificate`);
  const chain: X509Certificate[] = [];
  for (const [index, block] of blocks.entries()) {
    try {
      chain.push(new X509Certificate(block));
    } catch {
      return fail("cert-invalid", `certificate ${index + 1} in ${files.certFile} does not parse`);
    }
  }
  const leaf = chain[0]!;
  report.certificateNames = certificateDnsNames(leaf);
  report.notAfter = leaf.validToDate.toISOString();
  report.notBefore = leaf.validFromDate.toISOString();

  const keyText = readText(files.keyFile);
  if (typeof keyText !== "string") return fail("key-unreadable", `cannot read ${files.keyFile} (${keyText.code})`);
  // Postfix's own test, read from the key's DER (key-match.ts). A key it cannot read, and any
  // key that does not match, goes through the full import, which words the error as before.
  report.keyMatches = keyMatchesCertificate(keyText, leaf.raw) === true;
  if (!report.keyMatches) {
    let key: KeyObject;
    try {
      key = createPrivateKey(keyText);
    } catch {
      // The parser's message is not repeated: it could quote key material.
      return fail("key-invalid", `${files.keyFile} holds no usable private key (garbage, encrypted or unsupported)`);
    }
    report.keyMatches = leaf.checkPrivateKey(key);
  }
  if (!report.keyMatches) return fail("key-mismatch", `${files.keyFile} does not match the certificate in ${files.certFile}`);
  report.valid = true;
  for (let index = 1; index < chain.length; index++) {
    if (!chain[index - 1]!.checkIssued(chain[index]!)) {
      report.chainBreak = index + 1;
      break;
    }
  }
  return report;
}

/** Warnings of a usable pair: chain order, and expiry measured against `now`. */
export function pairWarnings(report: PairReport, sourceDir: string, now: Date): Problem[] {
  if (!report.valid) return [];
  const problems: Problem[] = [];
  const warn = (code: string, message: string) => problems.push({ severity: "warning", code, source: sourceDir, message: `${sourceDir}: ${message}` });
  const { certFile } = report.files;
  if (report.chainBreak !== undefined) {
    warn("chain-order", `certificate ${report.chainBreak} in ${certFile} did not issue certificate ${report.chainBreak - 1}; clients may not build the chain`);
  }
  const msLeft = Date.parse(report.notAfter!) - now.getTime();
  if (msLeft <= 0) warn("expired", `${certFile} expired on ${report.notAfter}; clients that verify will reject it`);
  else if (msLeft < EXPIRY_WARNING_DAYS * DAY_MS) warn("expires-soon", `${certFile} expires in ${Math.floor(msLeft / DAY_MS)} days (${report.notAfter})`);
  if (Date.parse(report.notBefore!) > now.getTime()) warn("not-yet-valid", `${certFile} is not valid before ${report.notBefore}`);
  return problems;
}

/** DNS subject alternative names, else the subject CN (as RFC 6125 allows for old certs). */
export function certificateDnsNames(certificate: X509Certificate): string[] {
  const san = certificate.subjectAltName;
  if (san) {
    const names = [...san.matchAll(/(?:^|, )DNS:("(?:[^"\\]|\\.)*"|[^,]*)/g)].map((match) => {
      const value = match[1]!;
      return value.startsWith('"') ? (JSON.parse(value) as string) : value;
    });
    if (names.length > 0) return names;
  }
  const cn = certificate.subject.split("\n").find((line) => line.startsWith("CN="));
  return cn ? [cn.slice(3)] : [];
}

/** Bounded and non-blocking (bounded-read.ts): a FIFO or /dev/zero as cert.pem is one error. */
function readText(path: string): string | { code: string } {
  try {
    return readBoundedText(path, MAX_PEM_BYTES);
  } catch (error) {
    return { code: describeReadFailure(error) };
  }
}
