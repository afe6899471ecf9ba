import { readCertificateFacts } from "./certificate.ts";
import { clientFitFailure, verifierWarnings } from "./client-fit.ts";
import type { DecodedKeys } from "./decoded-keys.ts";
import type { LoadedChain } from "./loaded-chain.ts";
import { loadLikePostfix, type LoadVerdict, type ValuePart } from "./postfix-loader.ts";
import type { KeyPairFiles, PairReport, Problem, SourceJudgement } from "./types.ts";

// Judging the bytes validate.ts read: joined as postmap -F joins them, loaded by Postfix's own
// rules (postfix-loader.ts), then the keys and chains measured against what clients can use.

const DAY_MS = 24 * 60 * 60 * 1000;
/** Certificates closer than this to expiry are reported (acme renews 30 days ahead). */
export const EXPIRY_WARNING_DAYS = 14;

/**
 * Key types common TLS clients can use with a server certificate. Postfix loads DSA keys and
 * EC keys on any curve OpenSSL knows, but a client offered one (DSA has no TLS 1.3 signature
 * scheme; secp256k1 and brainpool curves are not among the curves clients offer) aborts the
 * handshake, which is worse than the default certificate: such a pair is not mapped.
 */
const CLIENT_CURVES = new Set(["prime256v1", "secp384r1", "secp521r1"]);
const CLIENT_KEY_TYPES = new Set(["RSA", "RSA-PSS", "ED25519", "ED448"]);

/** The bytes of one pair's files, or why they could not be read. */
export type PairBytes =
  | { ok: true; files: KeyPairFiles; key: Buffer; cert: Buffer }
  | { ok: false; files: KeyPairFiles; report: PairReport; missing: boolean };

/** Judge the main pair, and the ecdsa pair beside it, by Postfix's loader. Never throws. */
/** KEYS: the decoded keys of this validation (decoded-keys.ts), when it keeps them. */
export function judgeSource(main: PairBytes, ecdsa: PairBytes | undefined, keys?: DecodedKeys): SourceJudgement {
  if (!main.ok) return { main: main.report, ecdsa: ecdsa?.ok === false ? ecdsa.report : undefined, withEcdsa: false };
  let both: PairReport[] | undefined;
  if (ecdsa?.ok) {
    both = judgeValue([main, ecdsa], keys);
    if (both.every((report) => report.valid)) return { main: both[0]!, ecdsa: both[1], withEcdsa: true };
  }
  const alone = judgeValue([main], keys)[0]!;
  if (!ecdsa) return { main: alone, withEcdsa: false };
  if (!ecdsa.ok) return { main: alone, ecdsa: ecdsa.report, withEcdsa: false };
  // Why the pair is left out: its own fault if it fails alone, else that the two do not go together.
  const single = judgeValue([ecdsa], keys)[0]!;
  const together = both?.[1]?.failure;
  const failure = single.failure ?? {
    code: together?.code ?? "pair-conflict",
    reason: `beside the main pair, ${together?.reason ?? "Postfix refuses the two together"}`,
  };
  return { main: alone, ecdsa: { ...single, valid: false, failure }, withEcdsa: false };
}

/** Join pairs as postmap -F joins the files of a map value: key, chain, key, chain with "\n" between. */
export function composeValue(pairs: readonly { files: KeyPairFiles; key: Uint8Array; cert: Uint8Array }[]): {
  value: Buffer;
  parts: ValuePart[];
} {
  const pieces: Buffer[] = [];
  const parts: ValuePart[] = [];
  let offset = 0;
  for (const pair of pairs) {
    for (const [file, bytes] of [
      [pair.files.keyFile, pair.key],
      [pair.files.certFile, pair.cert],
    ] as const) {
      if (pieces.length > 0) {
        pieces.push(Buffer.from("\n"));
        offset += 1;
      }
      pieces.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      parts.push({ file, start: offset, end: offset + bytes.length });
      offset += bytes.length;
    }
  }
  return { value: Buffer.concat(pieces, offset), parts };
}

/** Reports for each pair of one value: all valid when Postfix loads it and clients can use every key. */
function judgeValue(pairs: readonly Extract<PairBytes, { ok: true }>[], keys: DecodedKeys | undefined): PairReport[] {
  const { value, parts } = composeValue(pairs);
  const verdict: LoadVerdict = loadLikePostfix(value, parts, keys);
  const reports = pairs.map((pair, index) => {
    if (!verdict.loads) return failed(pair.files, verdict.code, `${verdict.reason}${framingHint(pairs)}`);
    const chain = verdict.chains[index];
    // A key file holding two key+chain groups installs more chains than pairs, and the pairs
    // no longer line up: not what the map line says.
    if (!chain || verdict.chains.length !== pairs.length)
      return failed(
        pair.files,
        "chain-count",
        `Postfix installs ${verdict.chains.length} key+chain group(s) from these ${pairs.length * 2} files`,
      );
    return reportOf(pair.files, chain);
  });
  if (!verdict.loads || !reports.every((report) => report.valid)) return reports;
  // Loaded, and every key is of a type clients use: can they complete a handshake with the value as a whole?
  const unfit = clientFitFailure(verdict.chains.map((chain, index) => ({ chain, files: pairs[index]!.files })));
  if (!unfit) return reports;
  return reports.map((report) => ({
    ...report,
    valid: false,
    failure: { code: unfit.code, reason: `Postfix loads it, but ${unfit.reason}` },
  }));
}

/**
 * What an admin cannot see in Postfix's words: a file whose first PEM block Postfix never
 * reads (a UTF-8 byte-order mark or an indent before its BEGIN line), or no PEM at all (DER).
 */
function framingHint(pairs: readonly Extract<PairBytes, { ok: true }>[]): string {
  for (const pair of pairs) {
    for (const [file, bytes] of [
      [pair.files.certFile, pair.cert],
      [pair.files.keyFile, pair.key],
    ] as const) {
      if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf)
        return ` (${file} starts with a UTF-8 byte-order mark, which hides its first PEM block from Postfix: save it without one)`;
      const text = bytes.toString("latin1");
      if (!text.includes("-----BEGIN "))
        return bytes.length === 0 ? ` (${file} is empty)` : ` (${file} holds no PEM block: a DER file must be converted to PEM)`;
      if (/^[ \t]+-----BEGIN /m.test(text) && !/^-----BEGIN /m.test(text))
        return ` (${file} has spaces before its BEGIN line, which hides that block from Postfix)`;
    }
  }
  return "";
}

function reportOf(files: KeyPairFiles, chain: LoadedChain): PairReport {
  const facts = readCertificateFacts(chain.leaf);
  const report: PairReport = {
    files,
    certificateNames: facts.names,
    rejectedNames: facts.rejectedNames,
    notAfter: facts.notAfter,
    notBefore: facts.notBefore,
    keyType: chain.keyType,
    curve: chain.curve,
    bits: chain.bits,
    keyMatches: true,
    valid: true,
    chainBreak: chain.chainBreak,
  };
  const warnings = verifierWarnings(chain, files);
  if (warnings.length > 0) report.verifierWarnings = warnings;
  const clientUsable = chain.keyType === "EC" ? CLIENT_CURVES.has(chain.curve ?? "") : CLIENT_KEY_TYPES.has(chain.keyType);
  if (!clientUsable) {
    const type = chain.curve ? `${chain.keyType} (${chain.curve})` : chain.keyType;
    report.valid = false;
    report.failure = {
      code: "key-type-unusable",
      reason: `${files.keyFile} is a ${type} key: Postfix loads it, but common TLS clients cannot use it and would abort the handshake`,
      severity: "warning",
    };
  }
  return report;
}

function failed(files: KeyPairFiles, code: string, reason: string): PairReport {
  return {
    files,
    certificateNames: [],
    keyMatches: false,
    valid: false,
    failure: { code, reason: `Postfix would not load this pair: ${reason}` },
  };
}

/** Warnings of a usable pair: chain order, and expiry measured against `now`. */
export function pairWarnings(report: PairReport, sourceDir: string, now: Date): Problem[] {
  if (!report.valid) return [];
  const problems: Problem[] = [];
  const warn = (code: string, message: string) =>
    problems.push({ severity: "warning", code, source: sourceDir, message: `${sourceDir}: ${message}` });
  const { certFile } = report.files;
  if (report.chainBreak !== undefined) {
    warn(
      "chain-order",
      `certificate ${report.chainBreak} in ${certFile} did not issue certificate ${report.chainBreak - 1}; clients may not build the chain`,
    );
  }
  if (report.notAfter) {
    const msLeft = Date.parse(report.notAfter) - now.getTime();
    if (msLeft <= 0) warn("expired", `${certFile} expired on ${report.notAfter}; clients that verify will reject it`);
    else if (msLeft < EXPIRY_WARNING_DAYS * DAY_MS)
      warn("expires-soon", `${certFile} expires in ${Math.floor(msLeft / DAY_MS)} days (${report.notAfter})`);
  }
  if (report.notBefore && Date.parse(report.notBefore) > now.getTime())
    warn("not-yet-valid", `${certFile} is not valid before ${report.notBefore}`);
  for (const { code, message } of report.verifierWarnings ?? []) warn(code, message);
  return problems;
}
