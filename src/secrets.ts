import type { Env } from "./env.ts";

// Which environment variables are secrets, and every form in which one could be printed.
// mailcow passes DBPASS, REDISPASS and SPAMHAUS_DQS_KEY; admins add their own (API keys,
// tokens), so any name that says PASS, SECRET, TOKEN or KEY counts. They are redacted from
// every log line and every command output, and withheld from every child process.

export const KNOWN_SECRET_VARIABLES = ["DBPASS", "DBROOT", "REDISPASS", "SPAMHAUS_DQS_KEY"] as const;
const SECRET_NAME = /PASS|SECRET|TOKEN|(^|_)KEY($|_)|PRIVATE/i;

/** Whether a variable of this name is treated as a secret. */
export function isSecretVariable(name: string): boolean {
  return (KNOWN_SECRET_VARIABLES as readonly string[]).includes(name) || SECRET_NAME.test(name);
}

/** The values of every secret variable set in `env`. */
export function secretValues(env: Env): string[] {
  return Object.entries(env).flatMap(([name, value]) => (value && isSecretVariable(name) ? [value] : []));
}

/** `env` without undefined values and without any secret variable: what child processes get. */
export function withoutSecrets(env: Env): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined && !isSecretVariable(entry[0])),
  );
}

/**
 * Control characters (C0, DEL, C1, line and paragraph separators) as visible escapes, so one
 * message is one line and nothing from a file can move the cursor or forge a log line. Pure.
 */
export function escapeControl(text: string): string {
  // \p{Cc}: C0, DEL and C1.
  return text.replace(/[\p{Cc}\u2028\u2029]/gu, (char) => {
    if (char === "\n") return "\\n";
    if (char === "\r") return "\\r";
    if (char === "\t") return "\\t";
    const code = char.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

/**
 * Every way `secret` can appear in what we print: raw, JSON-escaped once (a quoted value in a
 * log line) and twice (that line inside `check --json`), each also control-escaped.
 */
export function printedForms(secret: string): string[] {
  const json = (text: string) => JSON.stringify(text).slice(1, -1);
  const forms = [secret, json(secret), json(json(secret))].flatMap((form) => [form, escapeControl(form)]);
  return [...new Set(forms)].sort((a, b) => b.length - a.length);
}

/** Replaces every printed form of the given secrets with `***`. */
export function createRedactor(): { add(secret: string): void; redact(text: string): string } {
  const forms: string[] = [];
  return {
    add(secret) {
      // Replacing a one- to three-character value everywhere would mangle every line
      // ("mail.e***ample.org") and hide nothing worth hiding.
      if (secret.length < MIN_REDACTED_LENGTH) return;
      for (const form of printedForms(secret)) if (!forms.includes(form)) forms.push(form);
      forms.sort((a, b) => b.length - a.length);
    },
    redact(text) {
      let result = text;
      for (const form of forms) if (result.includes(form)) result = result.split(form).join("***");
      return result;
    },
  };
}

export const MIN_REDACTED_LENGTH = 4;
