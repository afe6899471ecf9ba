import type { Env } from "./env.ts";
import { UsageError, UserError } from "./errors.ts";

// Every setting a command reads is declared once, in its command's option table: the flag, the
// environment variable standing in for it, the default and the help text. resolveOptions turns
// flags + environment + defaults into one frozen, typed object, parsing each value by its type
// here, so no command reads the environment or parses a number of its own. Help text and
// docs/commands.md are generated from the same tables (help.ts).

interface OptionCommon {
  description: string;
  /** Environment variable consulted when the flag is not given (flag > env > default); empty counts as unset. */
  env?: string;
  /** Settable only through `env` (a variable other programs read too, e.g. Postfix's MAIL_CONFIG). */
  envOnly?: true;
}

export interface BooleanOption extends OptionCommon {
  type: "boolean";
}

export interface StringOption extends OptionCommon {
  type: "string";
  /** Placeholder shown in help, e.g. DIR. */
  valueName: string;
  default?: string;
  /** An empty value is meaningful (an unset build argument arrives as `--accept=`). */
  allowEmpty?: true;
}

/** A number of seconds (fractions allowed); resolves to milliseconds, what timers take. */
export interface SecondsOption extends OptionCommon {
  type: "seconds";
  default?: string;
  /** 0 is accepted (e.g. "do not wait at all"); otherwise a value must be greater than 0. */
  allowZero?: true;
}

export type OptionSpec = BooleanOption | StringOption | SecondsOption;
export type OptionTable = Readonly<Record<string, OptionSpec>>;

/** `wait-timeout` -> `waitTimeout`. */
type CamelCase<S extends string> = S extends `${infer Head}-${infer Tail}` ? `${Head}${Capitalize<CamelCase<Tail>>}` : S;
type ValueOf<O extends OptionSpec> = O extends BooleanOption
  ? boolean
  : O extends { default: string }
    ? O extends SecondsOption
      ? number
      : string
    : O extends SecondsOption
      ? number | undefined
      : string | undefined;

/** The resolved settings of one option table: camelCase names, seconds in milliseconds. */
export type Options<T extends OptionTable> = { readonly [K in keyof T & string as CamelCase<K>]: ValueOf<T[K]> };

/** What the command line gave: a flag's value, `true` for a boolean flag. */
export type GivenFlags = ReadonlyMap<string, string | true>;

export function camelCase(name: string): string {
  return name.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

/** Text of a number of seconds -> milliseconds, or a description of what was expected. Pure. */
export function parseSeconds(text: string, allowZero = false): number | { expected: string } {
  const seconds = /^\s*\d+(\.\d+)?\s*$/.test(text) ? Number(text) : Number.NaN;
  if (Number.isFinite(seconds) && (seconds > 0 || (allowZero && seconds === 0))) return Math.round(seconds * 1000);
  return { expected: `a number of seconds${allowZero ? "" : " greater than 0"} (e.g. 30 or 1.5)` };
}

/**
 * Flags + environment + defaults -> the frozen options object. A bad flag value is a usage
 * error (exit 2, `hint` names the help to read); a bad environment value names the variable.
 */
export function resolveOptions<T extends OptionTable>(table: T, given: GivenFlags, env: Env, hint: string): Options<T> {
  const options: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(table)) {
    const key = camelCase(name);
    const flag = given.get(name);
    if (spec.type === "boolean") {
      options[key] = flag === true;
      continue;
    }
    const fromEnv = spec.env ? env[spec.env] : undefined;
    const source = typeof flag === "string" ? "flag" : fromEnv !== undefined && fromEnv !== "" ? "env" : "default";
    const text = source === "flag" ? (flag as string) : source === "env" ? fromEnv! : spec.default;
    if (spec.type === "string" || text === undefined) {
      options[key] = text;
      continue;
    }
    const parsed = parseSeconds(text, spec.allowZero);
    if (typeof parsed === "number") {
      options[key] = parsed;
      continue;
    }
    if (source === "flag") throw new UsageError(`flag \`--${name}\` expects ${parsed.expected}, got \`${text}\``, hint);
    throw new UserError(`environment variable ${spec.env}: expected ${parsed.expected}, got \`${text}\``);
  }
  return Object.freeze(options) as Options<T>;
}
