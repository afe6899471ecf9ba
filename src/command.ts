import type { Env } from "./env.ts";
import type { Logger } from "./log.ts";
import type { OptionTable, Options } from "./options.ts";

// The declaration every subcommand file exports. Parsing, help text and docs/commands.md come
// from it, so a subcommand is one object: what it is called, what it takes, and what it does.
// Every run loads every declaration (the command table), so a declaration imports only what
// its help and parsing need; `run` and `environment.parse` import the rest when called.

export interface CommandSpec<T extends OptionTable = OptionTable, E = undefined> {
  name: string;
  summary: string;
  options: T;
  /** Positional words after the flags (e.g. `entrypoint CMD [ARGS...]`); none when absent. */
  rest?: { name: string; description: string; required: boolean };
  /** The mailcow variables this command reads: named in --help, validated (env.ts) after the options. */
  environment?: { variables: Readonly<Record<string, string>>; parse(env: Env): Promise<E> };
  run(context: CommandContext<T, E>): Promise<number>;
}

/** A command whose first word picks one of its subcommands (`templates extract`). */
export interface CommandGroup {
  name: string;
  summary: string;
  subcommands: readonly AnyCommand[];
}

/** Any command of the table, whatever its option types (a table holds commands of different types). */
// biome-ignore lint/suspicious/noExplicitAny: each command's own types are checked by defineCommand; the table only dispatches
export type AnyCommand = CommandSpec<any, any> | CommandGroup;

export function isGroup(command: AnyCommand): command is CommandGroup {
  return "subcommands" in command;
}

export interface CommandContext<T extends OptionTable = OptionTable, E = undefined> {
  /** Flags, environment and defaults resolved once (options.ts), frozen. */
  options: Options<T>;
  environment: E;
  rest: string[];
  /** The environment as received, handed on to the programs this command starts or becomes (hooks, CMD, master). */
  inherited: Env;
  log: Logger;
  /** Command output (not log lines): the map for --dry-run, the check report. */
  stdout(text: string): void;
}

/** Infers the option table's type, so `run` sees typed options. */
export function defineCommand<T extends OptionTable, E = undefined>(spec: CommandSpec<T, E>): CommandSpec<T, E> {
  return spec;
}
