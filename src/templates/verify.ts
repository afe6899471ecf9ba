import knownBases from "./known-bases.json" with { type: "json" };
import {
  BASE_FILE_KINDS,
  baseFingerprint,
  fingerprintFile,
  lineHash,
  logicLines,
  type BaseFileKind,
  type LogicLine,
} from "./fingerprint.ts";

// Is the base image's startup a version this release was checked against? Pure: file texts in,
// a verdict out. An unknown version gets a message naming the file and the first lines no known
// version has, so the admin (and whoever updates this project) knows where mailcow changed.

/** One checked version of one file: its fingerprint, per-line hashes and what it was checked against. */
export interface KnownVersion {
  fingerprint: string;
  lines: string[];
  /** Which upstream files (tags, blobs) or stand-ins share this logic. */
  sources: string[];
  /** How `start`/`entrypoint` were checked against it. */
  verified: string;
}

export type KnownBases = Record<BaseFileKind, KnownVersion[]>;

export const KNOWN_BASES: KnownBases = knownBases.files;

export interface FileVerdict {
  kind: BaseFileKind;
  path: string;
  fingerprint: string;
  /** Empty when known; else where it departs from every known version. */
  drift: string;
}

export interface BaseVerdict {
  /** The value MPI_ACCEPT_UNVERIFIED_BASE must carry to build on this base anyway. */
  fingerprint: string;
  files: FileVerdict[];
  known: boolean;
}

const SHOWN_LINES = 5;

export function verifyBase(files: Record<BaseFileKind, { path: string; text: string }>, known: KnownBases = KNOWN_BASES): BaseVerdict {
  const verdicts = BASE_FILE_KINDS.map((kind): FileVerdict => {
    const { path, text } = files[kind];
    const { fingerprint } = fingerprintFile(kind, text);
    const versions = known[kind];
    const drift = versions.some((version) => version.fingerprint === fingerprint)
      ? ""
      : describeDrift(kind, logicLines(kind, text), versions);
    return { kind, path, fingerprint, drift };
  });
  const fingerprint = baseFingerprint(Object.fromEntries(verdicts.map((v) => [v.kind, v.fingerprint])) as Record<BaseFileKind, string>);
  return { fingerprint, files: verdicts, known: verdicts.every((v) => v.drift === "") };
}

/** Where the file departs from the nearest known version: its first new or changed lines, else what is missing. */
function describeDrift(kind: BaseFileKind, lines: LogicLine[], versions: KnownVersion[]): string {
  if (kind === "supervisord-program-postfix" && lines.length === 0) return "no [program:postfix] section";
  const hashes = lines.map((line) => lineHash(line.text));
  const diffs = versions.map((version) => diffLines(hashes, version.lines));
  const nearest = diffs.reduce(
    (best, diff) => (diff.added.length + diff.removedAt.length < best.added.length + best.removedAt.length ? diff : best),
    diffs[0] ?? { added: hashes.map((_, i) => i), removedAt: [] },
  );
  if (nearest.added.length > 0) {
    const [first, ...others] = nearest.added.map((index) => lines[index]!).sort((a, b) => a.line - b.line);
    const shown = others.slice(0, SHOWN_LINES - 1).map((line) => line.line);
    const rest = others.length > shown.length ? ` and ${others.length - shown.length} more` : "";
    const also = shown.length ? `; also line${shown.length > 1 ? "s" : ""} ${shown.join(", ")}${rest}` : "";
    return `line ${first!.line} (\`${shorten(first!.text)}\`) is new or changed: no known version has it there${also}`;
  }
  const at = Math.min(...nearest.removedAt);
  if (kind === "supervisord-program-postfix") return `the section (line ${lines[0]!.line}) lacks a setting the nearest known version has`;
  if (at >= lines.length)
    return `ends after line ${lines[lines.length - 1]?.line ?? 0}, where the nearest known version goes on (lines removed)`;
  return `a line the nearest known version has is missing before line ${lines[at]!.line} (\`${shorten(lines[at]!.text)}\`)`;
}

/** Longest-common-subsequence diff of two hash lists: indexes of `ours` not in `theirs`, and where lines of `theirs` are missing. */
export function diffLines(ours: readonly string[], theirs: readonly string[]): { added: number[]; removedAt: number[] } {
  const width = theirs.length + 1;
  const common = new Uint32Array((ours.length + 1) * width);
  for (let i = ours.length - 1; i >= 0; i--) {
    for (let j = theirs.length - 1; j >= 0; j--) {
      common[i * width + j] =
        ours[i] === theirs[j] ? common[(i + 1) * width + j + 1]! + 1 : Math.max(common[(i + 1) * width + j]!, common[i * width + j + 1]!);
    }
  }
  const added: number[] = [];
  const removedAt: number[] = [];
  let i = 0;
  let j = 0;
  while (i < ours.length || j < theirs.length) {
    if (i < ours.length && j < theirs.length && ours[i] === theirs[j]) {
      i++;
      j++;
    } else if (j >= theirs.length || (i < ours.length && common[(i + 1) * width + j]! >= common[i * width + j + 1]!)) {
      added.push(i++);
    } else {
      removedAt.push(i);
      j++;
    }
  }
  return { added, removedAt };
}

function shorten(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** Each unknown file and where it departs from the nearest known version, in one line. */
export function driftSummary(verdict: BaseVerdict): string {
  return verdict.files
    .filter((file) => file.drift)
    .map((file) => `${file.path}: ${file.drift}`)
    .join("; ");
}

/** Why an unknown base was refused, in one line: each unknown file and where it departs, and an accept value naming another base. */
export function refusalReason(verdict: BaseVerdict, accepted: string | undefined): string {
  const where = driftSummary(verdict);
  return accepted ? `${where}; MPI_ACCEPT_UNVERIFIED_BASE=${accepted} names another base` : where;
}

/** Marks the one machine-readable line `templates verify` prints on refusal (docs/known-bases.md). */
export const VERDICT_PREFIX = "mailcow-postfix-init-verdict";

/** Exit status of `templates verify` on a base this release refuses. */
export const UNKNOWN_BASE_EXIT = 3;

/**
 * The refusal for the update hook, which reads it with sed/awk on the mail host (no jq): compact
 * JSON on one line, keys in this order, `reason` last. Changing a key or its meaning needs a new schemaVersion.
 */
export function verdictLine(verdict: BaseVerdict, accepted: string | undefined): string {
  const files = verdict.files.filter((file) => file.drift).map((file) => file.path);
  return `${VERDICT_PREFIX} ${JSON.stringify({ schemaVersion: 1, verdict: "unknown-base", fingerprint: verdict.fingerprint, files, reason: refusalReason(verdict, accepted) })}`;
}

/** The build's one error message for an unknown base: which files, which lines, what to do. */
export function unknownBaseMessage(verdict: BaseVerdict, accepted: string | undefined): string {
  const where = driftSummary(verdict);
  const mismatch = accepted ? ` MPI_ACCEPT_UNVERIFIED_BASE=${accepted} names another base.` : "";
  return (
    `the base image's startup is not a version this release was checked against (base fingerprint ${verdict.fingerprint}): ${where}.${mismatch} ` +
    "This image would run this release's startup logic in place of that version's. " +
    "Update mailcow-postfix-init (git pull) and build again, or go back to mailcow's stock postfix; " +
    `to build on this base anyway, knowingly, set MPI_ACCEPT_UNVERIFIED_BASE=${verdict.fingerprint} (build argument; in mailcow.conf for the override) and every start will log a warning.`
  );
}

/** The line every start logs on a base accepted with MPI_ACCEPT_UNVERIFIED_BASE. */
export function unverifiedStartWarning(record: UnverifiedRecord): string {
  return (
    `the startup logic was not verified for this base image (base fingerprint ${record.fingerprint}, accepted at build with MPI_ACCEPT_UNVERIFIED_BASE; ` +
    `versions this release does not know: ${record.files.join(", ")}): ` +
    "Postfix may start differently than with mailcow's own script; update mailcow-postfix-init and rebuild"
  );
}

/** What the build records for `start` when an unknown base was accepted. */
export interface UnverifiedRecord {
  fingerprint: string;
  files: string[];
}

/** The record's text back; a damaged record still means "unverified". Pure. */
export function parseUnverifiedRecord(text: string): UnverifiedRecord {
  try {
    const parsed = JSON.parse(text) as Partial<UnverifiedRecord>;
    const files = Array.isArray(parsed.files) ? parsed.files.filter((file): file is string => typeof file === "string") : [];
    return {
      fingerprint: typeof parsed.fingerprint === "string" ? parsed.fingerprint : "unknown",
      files: files.length ? files : ["not recorded"],
    };
  } catch {
    return { fingerprint: "unknown", files: ["not recorded"] };
  }
}

export function unverifiedRecord(verdict: BaseVerdict): UnverifiedRecord {
  return { fingerprint: verdict.fingerprint, files: verdict.files.filter((file) => file.drift).map((file) => file.path) };
}
