import { createHash } from "node:crypto";
import { HEREDOC } from "./extract.ts";

// Fingerprints of the base image's startup files, so that a mailcow version whose startup
// logic this release has not been checked against cannot slip into an image unnoticed.
// Only logic counts: heredoc bodies (the verbatim contents `templates extract` lifts out),
// comments, blank lines and indentation do not. The repository keeps hashes, never the text.

/** The three files whose logic `start` and `entrypoint` replace. */
export const BASE_FILE_KINDS = ["postfix.sh", "docker-entrypoint.sh", "supervisord-program-postfix"] as const;
export type BaseFileKind = (typeof BASE_FILE_KINDS)[number];

/** One logic line: its 1-based line number in the file and its normalized text. */
export interface LogicLine {
  line: number;
  text: string;
}

export interface FileFingerprint {
  fingerprint: string;
  /** Per-line hashes, in file order (sorted for the supervisord section, whose order is free). */
  lines: string[];
}

const SECTION = "[program:postfix]";

/** The lines whose change changes behaviour, per kind of file. */
export function logicLines(kind: BaseFileKind, text: string): LogicLine[] {
  return kind === "supervisord-program-postfix" ? programSection(text) : shellLogic(text);
}

/** Shell: every line outside heredoc bodies, trimmed, inner blanks collapsed; comments and blank lines dropped. */
function shellLogic(text: string): LogicLine[] {
  const lines = text.replace(/\r\n/g, "\n").split("\n");
  const result: LogicLine[] = [];
  for (let index = 0; index < lines.length; index++) {
    const raw = lines[index]!;
    const normalized = raw.trim().replace(/[ \t]+/g, " ");
    const comment = normalized.startsWith("#") && !(index === 0 && normalized.startsWith("#!"));
    if (normalized !== "" && !comment) result.push({ line: index + 1, text: normalized });
    const heredoc = HEREDOC.exec(raw.replace(/<<</g, ""));
    if (!heredoc) continue;
    // Skip the body and its delimiter; an unterminated body runs to the end, as in bash.
    const stripTabs = heredoc[1] === "-";
    const delimiter = heredoc[3]!;
    while (index + 1 < lines.length) {
      index++;
      if ((stripTabs ? lines[index]!.replace(/^\t+/, "") : lines[index]!) === delimiter) break;
    }
  }
  return result;
}

/** supervisord: the `[program:postfix]` section's settings as `key=value`, sorted (their order is free). */
function programSection(text: string): LogicLine[] {
  const lines = text.replace(/\r\n/g, "\n").split("\n");
  const start = lines.findIndex((line) => line.trim() === SECTION);
  if (start === -1) return [];
  const result: LogicLine[] = [{ line: start + 1, text: SECTION }];
  for (let index = start + 1; index < lines.length; index++) {
    const line = lines[index]!.trim();
    if (line.startsWith("[")) break;
    if (line === "" || line.startsWith(";") || line.startsWith("#")) continue;
    const equals = line.search(/[=:]/);
    const setting = equals === -1 ? line : `${line.slice(0, equals).trim()}=${line.slice(equals + 1).trim()}`;
    result.push({ line: index + 1, text: setting.replace(/[ \t]+/g, " ") });
  }
  return result.sort((a, b) => (a.text < b.text ? -1 : a.text > b.text ? 1 : 0));
}

/** 12 hex digits of SHA-256: enough to tell lines apart, not a copy of them. */
export function lineHash(text: string): string {
  return sha256(text).slice(0, 12);
}

export function fingerprintFile(kind: BaseFileKind, text: string): FileFingerprint {
  const lines = logicLines(kind, text).map((line) => line.text);
  return { fingerprint: sha256(`${kind}\n${lines.join("\n")}`).slice(0, 16), lines: lines.map(lineHash) };
}

/** One name for a whole base (all three files), the value MPI_ACCEPT_UNVERIFIED_BASE takes. */
export function baseFingerprint(files: Record<BaseFileKind, string>): string {
  return sha256(BASE_FILE_KINDS.map((kind) => `${kind}=${files[kind]}`).join("\n")).slice(0, 16);
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
