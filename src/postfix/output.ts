// What a Postfix tool said on stderr, sorted into what fails a step and what is only worth a
// log line. Postfix prefixes every message with its program name and a severity
// ("postmap: warning: ...", "postfix/postfix-script: fatal: ..."). Pure apart from the log.

import { UserError } from "../errors.ts";
import type { Logger } from "../log.ts";

export interface ToolMessages {
  /** Every non-empty line, as printed. */
  all: string[];
  /** fatal, panic and error lines: the tool gave up (its exit status says so too). */
  errors: string[];
  /** warning lines, without the "PROGRAM: warning: " prefix: configuration notes and such. */
  warnings: string[];
  /** Lines with no severity ("postfix/postlog: refreshing the Postfix mail system"): progress, not a problem. */
  notices: string[];
}

const SEVERE = /^\S+: (fatal|panic|error): /;
const WARNING_PREFIX = /^\S+: warning: /;
/** "postfix/postlog: refreshing ...": a program name, then no severity (never a severe or warning line). */
const NOTICE = /^[a-z][\w/-]*: (?!(fatal|panic|error|warning): )/;

export function toolMessages(stderr: string): ToolMessages {
  const all = stderr
    .split("\n")
    .map((line) => line.trimEnd())
    .filter((line) => line.trim() !== "");
  const errors = all.filter((line) => SEVERE.test(line));
  const notices = all.filter((line) => NOTICE.test(line)).map((line) => `Postfix: ${line}`);
  const warnings = all
    .filter((line) => !SEVERE.test(line) && !NOTICE.test(line))
    .map((line) => `Postfix: ${line.replace(WARNING_PREFIX, "")}`);
  return { all, errors, warnings, notices };
}

/**
 * summarizeToolOutput with the lines `isNote` picks (default: warnings) moved after the others:
 * on a lived-in config a failing tool first prints one "overriding earlier entry" note per
 * overridden setting, which would otherwise push its reason out of the lines shown.
 */
export function summarizeReasonFirst(text: string, isNote: (line: string) => boolean = (line) => WARNING_PREFIX.test(line)): string {
  const lines = text.split("\n");
  return summarizeToolOutput([...lines.filter((line) => !isNote(line)), ...lines.filter(isNote)].join("\n"));
}

/** At most `limit` lines of a tool's output, distinct ones first, then how many were left out. */
export function summarizeToolOutput(text: string, limit = 5): string {
  const lines = text
    .split("\n")
    .map((line) => line.trimEnd())
    .filter((line) => line.trim() !== "");
  const distinct = [...new Set(lines)];
  if (distinct.length <= limit) return distinct.join("\n");
  return `${distinct.slice(0, limit).join("\n")}\n(${lines.length - limit} more lines left out)`;
}

/** A tool's run as the functions here read it. */
export interface ToolRun {
  exitCode: number | undefined;
  failed: boolean;
  stdout: string;
  stderr: string;
  shortMessage?: string;
  messages: ToolMessages;
}

/** A finished run as the functions here read it: its stderr parsed once. */
export function toolRun(run: Omit<ToolRun, "messages">): ToolRun {
  return { ...run, messages: toolMessages(run.stderr) };
}

/** Configuration warnings of a run that succeeded: logged, each distinct one once per run. */
export function logToolWarnings(run: ToolRun, log: Logger | undefined): void {
  if (!log) return;
  // The same note about the same setting, whatever line of main.cf it is on by now (main.cf
  // is rewritten during the start, which moves the Overrides tail).
  for (const warning of run.messages.warnings) log.warnOnce(warning, warning.replace(/, line \d+: /, ": "));
  for (const notice of run.messages.notices) log.info(notice);
}

/** The failure with the tool's words, its "overriding earlier entry" notes last (summarizeReasonFirst). */
export function toolFailure(what: string, run: ToolRun): string {
  const output = summarizeReasonFirst([run.stderr, run.stdout].join("\n"), (line) => line.includes("overriding earlier entry"));
  return `${what} failed (exit ${run.exitCode ?? "none"}): ${output || run.shortMessage || "no output"}`;
}

/** postconf -h's lines keyed by the names asked, in order; a UserError when the count differs. */
export function recordOf<N extends string>(what: string, names: readonly N[], stdout: string): Record<N, string> {
  const values = stdout.replace(/\n$/, "").split("\n");
  if (values.length !== names.length)
    throw new UserError(`${what} ${names.join(" ")} printed ${values.length} lines for ${names.length} parameters`);
  return Object.fromEntries(names.map((name, index) => [name, values[index]!.trim()])) as Record<N, string>;
}

/**
 * The keys of `postmap -s` output fed chunk by chunk: a key ends at the first tab, a line at
 * its newline (values never contain one). Values (with -F the embedded files in base64) are
 * skipped, never held.
 */
export function createKeyReader(): { push(chunk: Uint8Array): void; keys: string[] } {
  const keys: string[] = [];
  let key: number[] | undefined = [];
  const decoder = new TextDecoder();
  const push = (chunk: Uint8Array) => {
    let position = 0;
    while (position < chunk.length) {
      if (key) {
        const tab = chunk.indexOf(9, position);
        const newline = chunk.indexOf(10, position);
        const end = tab === -1 ? newline : newline === -1 ? tab : Math.min(tab, newline);
        const stop = end === -1 ? chunk.length : end;
        for (let index = position; index < stop; index++) key.push(chunk[index]!);
        if (end === -1) break;
        keys.push(decoder.decode(new Uint8Array(key)));
        key = chunk[end] === 10 ? [] : undefined;
        position = end + 1;
      } else {
        const newline = chunk.indexOf(10, position);
        if (newline === -1) break;
        key = [];
        position = newline + 1;
      }
    }
  };
  return { push, keys };
}
