import { writeSync } from "node:fs";
import { createRedactor, escapeControl } from "./secrets.ts";
import { errnoCode } from "./errors.ts";

// One logger for every command. Lines go to stderr (stdout carries command output such as
// `sni-map --dry-run`), written synchronously: the start command execs into Postfix and
// queued writes would be lost when the process image is replaced.

export type LogLevel = "info" | "warning" | "error";

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  /**
   * A warning that several steps may run into (a Postfix configuration note): logged once per
   * run and `key` (the message itself unless given).
   */
  warnOnce(message: string, key?: string): void;
  /** Several lines in one write: 2,000 warnings about a certificate tree are one syscall, not 2,000. */
  batch(lines: readonly { level: LogLevel; message: string }[]): void;
  /** Values that must never reach a log line (the DB password); replaced by `***` in every printed form. */
  addSecret(secret: string): void;
  /** The same redaction for command output (check, --json). */
  redact(text: string): string;
}

export const PROGRAM = "mailcow-postfix-init";

/** One event, one line: control characters (a newline in a directory name, ESC) are escaped. */
export function formatLogLine(level: LogLevel, message: string): string {
  const prefix = level === "info" ? `${PROGRAM}: ` : `${PROGRAM}: ${level}: `;
  return `${prefix}${escapeControl(message)}\n`;
}

/** A logger writing whole lines to a file descriptor (default 2, stderr). */
export function createLogger(write: (text: string) => void = (text) => writeAll(2, text)): Logger {
  const redactor = createRedactor();
  // Before and after escaping: a secret may hold characters the escaping changes.
  const redact = (message: string) => redactor.redact(escapeControl(redactor.redact(message)));
  const emit = (level: LogLevel) => (message: string) => write(formatLogLine(level, redact(message)));
  const warned = new Set<string>();
  return {
    info: emit("info"),
    warn: emit("warning"),
    error: emit("error"),
    batch(lines) {
      if (lines.length > 0) write(lines.map((line) => formatLogLine(line.level, redact(line.message))).join(""));
    },
    warnOnce(message, key = message) {
      if (warned.has(key)) return;
      warned.add(key);
      emit("warning")(message);
    },
    addSecret(secret) {
      // A second line of defence: no code logs a secret on purpose.
      redactor.add(secret);
    },
    redact: (text) => redactor.redact(text),
  };
}

/** A logger that keeps lines in memory, for tests and for `check`. */
export function createMemoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger((text) => lines.push(...text.replace(/\n$/, "").split("\n")));
  return Object.assign(logger, { lines });
}

/** Synchronous write of the whole string, retrying on partial writes and EAGAIN. */
export function writeAll(fd: number, text: string): void {
  const buffer = Buffer.from(text);
  let offset = 0;
  while (offset < buffer.length) {
    try {
      offset += writeSync(fd, buffer, offset, buffer.length - offset);
    } catch (error) {
      const code = errnoCode(error);
      if (code === "EAGAIN") continue;
      // Nobody reads the log any more (the reading end of a pipe closed): the line is lost,
      // and a program that must keep running (watch) must not end over it.
      if (code === "EPIPE") return;
      throw error;
    }
  }
}
