import type { Logger } from "./log.ts";

// The declaration every subcommand file exports. Help text and parsing come from it, so a
// subcommand is one object: what it is called, what it takes, and what it does.

export interface FlagSpec {
  type: "string" | "boolean";
  description: string;
  /** Environment variable consulted when the flag is not given (flag > env > default). */
  env?: string;
  default?: string;
  /** Placeholder shown in help, e.g. DIR. */
  valueName?: string;
}

export interface CommandSpec {
  name: string;
  summary: string;
  flags: Record<string, FlagSpec>;
  /** Positional words after the flags (e.g. `entrypoint CMD [ARGS...]`); none when absent. */
  rest?: { name: string; description: string; required: boolean };
  run(context: CommandContext): Promise<number>;
}

export type Env = Record<string, string | undefined>;

export interface CommandContext {
  /** String flags resolved flag > env > default; booleans true when given. */
  flags: Record<string, string | boolean | undefined>;
  rest: string[];
  env: Env;
  log: Logger;
  /** Command output (not log lines): the map for --dry-run, the check report. */
  stdout(text: string): void;
}

/** A string flag's value, for commands that declared it with a default. */
export function stringFlag(context: CommandContext, name: string): string {
  const value = context.flags[name];
  if (typeof value !== "string") throw new Error(`flag --${name} has no value and no default`);
  return value;
}
