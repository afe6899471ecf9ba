import { existsSync } from "node:fs";
import { MAX_PEM_BYTES, describeReadFailure, readBoundedBytes } from "../bounded-read.ts";
import { fileIdentity, identityMtimeMs } from "../file-identity.ts";
import type { PairCache } from "./cache.ts";
import { readCertificateFacts } from "./certificate.ts";
import { clientFitFailure, verifierWarnings } from "./client-fit.ts";
import { loadLikePostfix, type LoadedChain, type LoadVerdict, type ValuePart } from "./postfix-loader.ts";
import type { CertificateSource, KeyPairFiles, PairReport, Problem, SourceJudgement, ValidatedSource } from "./types.ts";

// A source is judged on exactly the bytes sni.map.db will embed: each file is read once, the
// bytes are joined as postmap -F joins them, Postfix's own loader rules decide (postfix-loader.ts),
// and the build embeds those same bytes (write.ts builds from a private copy of them). A
// renewal that rewrites a file between the check and the build therefore cannot put an
// unchecked pair into the table: the next run sees the new bytes and judges them.

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
type PairBytes = { ok: true; files: KeyPairFiles; key: Buffer; cert: Buffer } | { ok: false; files: KeyPairFiles; report: PairReport; missing: boolean };


/** How long a file must have been left alone before it is judged (a writer may be mid-way). */
const SETTLE_MS = 50;
/** Reads of one source before its last bytes are judged as they are. */
const MAX_READS = 4;

export function validateSource(source: CertificateSource, now: Date, cache?: PairCache): { validated: ValidatedSource; problems: Problem[] } {
  const problems: Problem[] = [];
  const pairs = [source.main, ...(source.ecdsa ? [source.ecdsa] : [])];
  const paths = pairs.flatMap((files) => [files.certFile, files.keyFile]);
  let rereads = 0;
  for (let attempt = 1; ; attempt++) {
    const before = paths.map(fileIdentity);
    const youngest = Math.max(...before.map((identity) => (identity === "" ? 0 : identityMtimeMs(identity))));
    const age = Date.now() - youngest;
    // A renewal writes cert.pem, then key.pem a few ms later, possibly in chunks: wait until the
    // files have been left alone for a moment, a bounded number of times.
    const young = age >= 0 && age < SETTLE_MS;
    if (young && attempt < MAX_READS) {
      Bun.sleepSync(Math.ceil(SETTLE_MS - age) + 1); // Date.now() is whole ms, mtimes are not
      continue;
    }
    const main = readPair(source.main);
    const ecdsa = source.ecdsa ? readPair(source.ecdsa) : undefined;
    const unchanged = paths.every((path, index) => fileIdentity(path) === before[index]);
    if (!unchanged && attempt < MAX_READS) {
      rereads++;
      continue;
    }
    // A directory swapped with mv is missing for a moment: look again before giving up on it.
    const missing = [main, ecdsa].some((pair) => pair?.ok === false && pair.missing);
    if (missing && source.kind === "directory" && attempt < MAX_READS) {
      rereads++;
      Bun.sleepSync(SETTLE_MS);
      continue;
    }
    // Files still young after every wait, or changed under the read: a writer is at work.
    const racing = !unchanged || rereads > 0 || young;
    const vanished = source.kind === "directory" && !main.ok && main.missing && !existsSync(source.dir);
    if (vanished) {
      const report = { ...main.report, failure: { code: "vanished", reason: "the directory disappeared while it was being read", severity: "warning" as const } };
      return { validated: { source, main: report, usable: false }, problems };
    }
    const readable = main.ok && (ecdsa === undefined || ecdsa.ok);
    let judgement = cache && readable ? cache.judge(judgementKey(main, ecdsa), () => judgeSource(main, ecdsa)) : judgeSource(main, ecdsa);
    if (racing && judgement.main.valid) {
      problems.push({ severity: "warning", code: "changed-while-read", source: source.dir, message: `${source.dir}: certificate or key files changed while being read; mapped as they were once they had settled` });
    } else if (racing) {
      // A renewal still under way, not a broken pair: say that, once, instead of the loader's words.
      const failure = { code: "changed-while-read", reason: `certificate or key files kept changing while being read (${attempt} reads)`, severity: "warning" as const };
      judgement = { ...judgement, main: { ...judgement.main, valid: false, failure } };
    }
    problems.push(...pairWarnings(judgement.main, source.dir, now), ...(judgement.ecdsa && judgement.withEcdsa ? pairWarnings(judgement.ecdsa, source.dir, now) : []));
    const value = judgement.main.valid && main.ok ? composeValue(judgement.withEcdsa && ecdsa?.ok ? [main, ecdsa] : [main]).value : undefined;
    return { validated: { source, main: judgement.main, ecdsa: judgement.ecdsa, usable: value !== undefined, value }, problems };
  }
}

/** Judge the main pair, and the ecdsa pair beside it, by Postfix's loader. Never throws. */
export function judgeSource(main: PairBytes, ecdsa: PairBytes | undefined): SourceJudgement {
  if (!main.ok) return { main: main.report, ecdsa: ecdsa?.ok === false ? ecdsa.report : undefined, withEcdsa: false };
  let both: PairReport[] | undefined;
  if (ecdsa?.ok) {
    both = judgeValue([main, ecdsa]);
    if (both.every((report) => report.valid)) return { main: both[0]!, ecdsa: both[1], withEcdsa: true };
  }
  const alone = judgeValue([main])[0]!;
  if (!ecdsa) return { main: alone, withEcdsa: false };
  if (!ecdsa.ok) return { main: alone, ecdsa: ecdsa.report, withEcdsa: false };
  // Why the pair is left out: its own fault if it fails alone, else that the two do not go together.
  const single = judgeValue([ecdsa])[0]!;
  const together = both?.[1]?.failure;
  const failure = single.failure ?? { code: together?.code ?? "pair-conflict", reason: `beside the main pair, ${together?.reason ?? "Postfix refuses the two together"}` };
  return { main: alone, ecdsa: { ...single, valid: false, failure }, withEcdsa: false };
}

/** Join pairs as postmap -F joins the files of a map value: key, chain, key, chain with "\n" between. */
export function composeValue(pairs: readonly { files: KeyPairFiles; key: Uint8Array; cert: Uint8Array }[]): { value: Buffer; parts: ValuePart[] } {
  const pieces: Buffer[] = [];
  const parts: ValuePart[] = [];
  let offset = 0;
  for (const pair of pairs) {
    for (const [file, bytes] of [[pair.files.keyFile, pair.key], [pair.files.certFile, pair.cert]] as const) {
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
function judgeValue(pairs: readonly Extract<PairBytes, { ok: true }>[]): PairReport[] {
  const { value, parts } = composeValue(pairs);
  const verdict: LoadVerdict = loadLikePostfix(value, parts);
  const reports = pairs.map((pair, index) => {
    if (!verdict.loads) return failed(pair.files, verdict.code, `${verdict.reason}${framingHint(pairs)}`);
    const chain = verdict.chains[index];
    // A key file holding two key+chain groups installs more chains than pairs, and the pairs
    // no longer line up: not what the map line says.
    if (!chain || verdict.chains.length !== pairs.length) return failed(pair.files, "chain-count", `Postfix installs ${verdict.chains.length} key+chain group(s) from these ${pairs.length * 2} files`);
    return reportOf(pair.files, chain);
  });
  if (!verdict.loads || !reports.every((report) => report.valid)) return reports;
  // Loaded, and every key is of a type clients use: can they complete a handshake with the value as a whole?
  const unfit = clientFitFailure(verdict.chains.map((chain, index) => ({ chain, files: pairs[index]!.files })));
  if (!unfit) return reports;
  return reports.map((report) => ({ ...report, valid: false, failure: { code: unfit.code, reason: `Postfix loads it, but ${unfit.reason}` } }));
}

/**
 * What an admin cannot see in Postfix's words: a file whose first PEM block Postfix never
 * reads (a UTF-8 byte-order mark or an indent before its BEGIN line), or no PEM at all (DER).
 */
function framingHint(pairs: readonly Extract<PairBytes, { ok: true }>[]): string {
  for (const pair of pairs) {
    for (const [file, bytes] of [[pair.files.certFile, pair.cert], [pair.files.keyFile, pair.key]] as const) {
      if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return ` (${file} starts with a UTF-8 byte-order mark, which hides its first PEM block from Postfix: save it without one)`;
      const text = bytes.toString("latin1");
      if (!text.includes("-----BEGIN ")) return bytes.length === 0 ? ` (${file} is empty)` : ` (${file} holds no PEM block: a DER file must be converted to PEM)`;
      if (/^[ \t]+-----BEGIN /m.test(text) && !/^-----BEGIN /m.test(text)) return ` (${file} has spaces before its BEGIN line, which hides that block from Postfix)`;
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
    report.failure = { code: "key-type-unusable", reason: `${files.keyFile} is a ${type} key: Postfix loads it, but common TLS clients cannot use it and would abort the handshake`, severity: "warning" };
  }
  return report;
}

function failed(files: KeyPairFiles, code: string, reason: string): PairReport {
  return { files, certificateNames: [], keyMatches: false, valid: false, failure: { code, reason: `Postfix would not load this pair: ${reason}` } };
}

/** Read both files of a pair once, bounded (bounded-read.ts): a FIFO or /dev/zero is one error. */
export function readPair(files: KeyPairFiles): PairBytes {
  const read = (path: string, code: string): Buffer | Extract<PairBytes, { ok: false }> => {
    try {
      return readBoundedBytes(path, MAX_PEM_BYTES);
    } catch (error) {
      const report = { files, certificateNames: [], keyMatches: false, valid: false, failure: { code, reason: `cannot read ${path} (${describeReadFailure(error)})` } };
      return { ok: false, files, report, missing: (error as { code?: string }).code === "ENOENT" };
    }
  };
  const cert = read(files.certFile, "cert-unreadable");
  if (!Buffer.isBuffer(cert)) return cert;
  const key = read(files.keyFile, "key-unreadable");
  if (!Buffer.isBuffer(key)) return key;
  return { ok: true, files, key, cert };
}

/** The cache key of a source's judgement: its file names and every byte judged. */
function judgementKey(main: PairBytes, ecdsa: PairBytes | undefined): string {
  const hasher = new Bun.CryptoHasher("sha256");
  for (const pair of [main, ecdsa]) {
    if (!pair?.ok) continue;
    for (const [path, bytes] of [[pair.files.keyFile, pair.key], [pair.files.certFile, pair.cert]] as const) {
      hasher.update(`${path}\0${bytes.length}\0`);
      hasher.update(bytes);
    }
  }
  return hasher.digest("hex");
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
  if (report.notAfter) {
    const msLeft = Date.parse(report.notAfter) - now.getTime();
    if (msLeft <= 0) warn("expired", `${certFile} expired on ${report.notAfter}; clients that verify will reject it`);
    else if (msLeft < EXPIRY_WARNING_DAYS * DAY_MS) warn("expires-soon", `${certFile} expires in ${Math.floor(msLeft / DAY_MS)} days (${report.notAfter})`);
  }
  if (report.notBefore && Date.parse(report.notBefore) > now.getTime()) warn("not-yet-valid", `${certFile} is not valid before ${report.notBefore}`);
  for (const { code, message } of report.verifierWarnings ?? []) warn(code, message);
  return problems;
}
