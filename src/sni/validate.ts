import { existsSync } from "node:fs";
import { MAX_PEM_BYTES, describeReadFailure, readBoundedBytes } from "../bounded-read.ts";
import { fileIdentity, identityChangedMs, identityMtimeMs } from "../file-identity.ts";
import type { PairCache, RecalledSource } from "./cache.ts";
import type { DecodedKeys } from "./decoded-keys.ts";
import { embeddedValue } from "./embedded.ts";
import { composeValue, judgeSource, type PairBytes, pairWarnings } from "./judge.ts";
import type { CertificateSource, EmbeddedValue, KeyPairFiles, Problem, SourceJudgement, ValidatedSource } from "./types.ts";

// A source is judged on exactly the bytes sni.map.db will embed: each file is read once, the
// bytes are joined as postmap -F joins them, Postfix's own loader rules decide (postfix-loader.ts),
// and the build embeds those same bytes (write.ts builds from a private copy of them). A
// renewal that rewrites a file between the check and the build therefore cannot put an
// unchecked pair into the table: the next run sees the new bytes and judges them.
// A source whose files all keep the identities they had when they were last read whole is
// not read again: the cache remembers what they held (cache.ts), and a build that needs the
// bytes reads them then and checks them against the digest (embedded.ts).

/** How long a file must have been left alone before it is judged (a writer may be mid-way). */
const SETTLE_MS = 50;
/** Reads of one source before its last bytes are judged as they are (mapped only when nothing changed under that read). */
const MAX_READS = 4;
/**
 * Identities are remembered only for files last changed at least this long before they were
 * read: the kernel stamps ctime from a clock that advances in ticks (1-10 ms), so a write
 * right after the read could otherwise leave a file with new bytes and the same identity.
 */
const RACY_MS = 50;

export interface ValidateOptions {
  /** fileIdentity; a test may stand in for a writer that never stops. */
  identity?: (path: string) => string;
  /** The keys this validation decoded so far (decoded-keys.ts), owned by the caller. */
  keys?: DecodedKeys;
}

/**
 * Read and judge one source. IDENTITY (fileIdentity; a test may stand in for a writer that
 * never stops) tells whether a file changed while it was read.
 */
export function validateSource(
  source: CertificateSource,
  now: Date,
  cache?: PairCache,
  { identity = fileIdentity, keys }: ValidateOptions = {},
): { validated: ValidatedSource; problems: Problem[] } {
  const problems: Problem[] = [];
  const pairs = [source.main, ...(source.ecdsa ? [source.ecdsa] : [])];
  const paths = pairs.flatMap((files) => [files.certFile, files.keyFile]);
  let rereads = 0;
  for (let attempt = 1; ; attempt++) {
    const before = paths.map(identity);
    // Identities with a missing file ("") are never remembered (not settled, below): nothing to recall.
    const identityKey = identityKeyOf(paths, before);
    const recalled = cache?.recall?.(identityKey);
    const fromMemory = recalled && recalledSource(source, recalled, now, identitiesOf(paths, before));
    if (fromMemory) return fromMemory;
    const youngest = Math.max(...before.map((taken) => (taken === "" ? 0 : identityMtimeMs(taken))));
    const age = Date.now() - youngest;
    // A renewal writes cert.pem, then key.pem a few ms later, possibly in chunks: wait until the
    // files have been left alone for a moment, a bounded number of times.
    const young = age >= 0 && age < SETTLE_MS;
    if (young && attempt < MAX_READS) {
      Bun.sleepSync(Math.ceil(SETTLE_MS - age) + 1); // Date.now() is whole ms, mtimes are not
      continue;
    }
    const readStarted = Date.now();
    const main = readPair(source.main);
    const ecdsa = source.ecdsa ? readPair(source.ecdsa) : undefined;
    const unchanged = paths.every((path, index) => identity(path) === before[index]);
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
      const report = {
        ...main.report,
        failure: { code: "vanished", reason: "the directory disappeared while it was being read", severity: "warning" as const },
      };
      return { validated: { source, main: report, usable: false }, problems };
    }
    const readable = main.ok && (ecdsa === undefined || ecdsa.ok);
    const contentKey = cache && readable ? judgementKey(main, ecdsa) : undefined;
    let judgement =
      contentKey !== undefined ? cache!.judge(contentKey, () => judgeSource(main, ecdsa, keys)) : judgeSource(main, ecdsa, keys);
    // Bytes read while a file changed may be parts of two versions (the old file's bytes, then
    // the new one's past that offset: a whole PEM block and a tail Postfix skips, which loads):
    // never mapped, however well they load. Files that changed only between reads were read whole.
    if (racing && judgement.main.valid && unchanged) {
      problems.push({
        severity: "warning",
        code: "changed-while-read",
        source: source.dir,
        message: `${source.dir}: certificate or key files changed while being read; mapped as they were once they had settled`,
      });
    } else if (racing) {
      // A renewal still under way, not a broken pair: say that, once, instead of the loader's words.
      const failure = {
        code: "changed-while-read",
        reason: `certificate or key files kept changing while being read (${attempt} reads)`,
        severity: "warning" as const,
      };
      judgement = { ...judgement, main: { ...judgement.main, valid: false, failure } };
    }
    const value =
      judgement.main.valid && main.ok
        ? embeddedValue(composeValue(judgement.withEcdsa && ecdsa?.ok ? [main, ecdsa] : [main]).value)
        : undefined;
    const settled = before.every((taken) => identityChangedMs(taken) < readStarted - RACY_MS);
    if (!racing && contentKey !== undefined && settled)
      cache!.remember?.(identityKey, { key: contentKey, digest: value?.digest, length: value?.length });
    problems.push(...judgementWarnings(judgement, source.dir, now));
    const identities = racing ? undefined : identitiesOf(paths, before);
    const validated = { source, main: judgement.main, ecdsa: judgement.ecdsa, usable: value !== undefined, value, identities };
    return { validated, problems };
  }
}

/** What validateSource gives for a source whose files still hold what they held when last read. */
function recalledSource(
  source: CertificateSource,
  recalled: RecalledSource,
  now: Date,
  identities: Record<string, string>,
): { validated: ValidatedSource; problems: Problem[] } | undefined {
  const { judgement, digest, length } = recalled;
  let value: EmbeddedValue | undefined;
  if (judgement.main.valid) {
    // A usable source is only taken from memory with its value's digest and length.
    if (digest === undefined || length === undefined) return undefined;
    value = { digest, length };
  }
  const validated = { source, main: judgement.main, ecdsa: judgement.ecdsa, usable: value !== undefined, value, identities };
  return { validated, problems: judgementWarnings(judgement, source.dir, now) };
}

function judgementWarnings(judgement: SourceJudgement, dir: string, now: Date): Problem[] {
  return [
    ...pairWarnings(judgement.main, dir, now),
    // An ECDSA pair left out of the value is never valid: it has no warnings of its own.
    ...(judgement.ecdsa ? pairWarnings(judgement.ecdsa, dir, now) : []),
  ];
}

function identitiesOf(paths: readonly string[], identities: readonly string[]): Record<string, string> {
  return Object.fromEntries(paths.map((path, index) => [path, identities[index]!]));
}

/** The cache key of the files at PATHS with IDENTITIES (file-identity.ts). */
function identityKeyOf(paths: readonly string[], identities: readonly string[]): string {
  const hasher = new Bun.CryptoHasher("sha256");
  for (const [index, path] of paths.entries()) hasher.update(`${path}\0${identities[index]}\0`);
  return hasher.digest("hex");
}

/** Read both files of a pair once, bounded (bounded-read.ts): a FIFO or /dev/zero is one error. */
export function readPair(files: KeyPairFiles): PairBytes {
  const read = (path: string, code: string): Buffer | Extract<PairBytes, { ok: false }> => {
    try {
      return readBoundedBytes(path, MAX_PEM_BYTES);
    } catch (error) {
      const report = {
        files,
        certificateNames: [],
        keyMatches: false,
        valid: false,
        failure: { code, reason: `cannot read ${path} (${describeReadFailure(error)})` },
      };
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
    for (const [path, bytes] of [
      [pair.files.keyFile, pair.key],
      [pair.files.certFile, pair.cert],
    ] as const) {
      hasher.update(`${path}\0${bytes.length}\0`);
      hasher.update(bytes);
    }
  }
  return hasher.digest("hex");
}
