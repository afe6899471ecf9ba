// What a Postfix tool said on stderr, sorted into what fails a step and what is only worth a
// log line. Postfix prefixes every message with its program name and a severity
// ("postmap: warning: ...", "postfix/postfix-script: fatal: ..."). Pure.

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
  const all = stderr.split("\n").map((line) => line.trimEnd()).filter((line) => line.trim() !== "");
  const errors = all.filter((line) => SEVERE.test(line));
  const notices = all.filter((line) => NOTICE.test(line)).map((line) => `Postfix: ${line}`);
  const warnings = all.filter((line) => !SEVERE.test(line) && !NOTICE.test(line)).map((line) => `Postfix: ${line.replace(WARNING_PREFIX, "")}`);
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
  const lines = text.split("\n").map((line) => line.trimEnd()).filter((line) => line.trim() !== "");
  const distinct = [...new Set(lines)];
  if (distinct.length <= limit) return distinct.join("\n");
  return `${distinct.slice(0, limit).join("\n")}\n(${lines.length - limit} more lines left out)`;
}
