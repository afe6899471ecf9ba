import type { CommandContext, CommandSpec, Env } from "./command.ts";
import { UsageError, UserError, describeErrorChain, describeFilesystemError } from "./errors.ts";
import { secretValues } from "./secrets.ts";
import { createLogger, writeAll, PROGRAM, type Logger } from "./log.ts";
import { sniMapCommand } from "./commands/sni-map.ts";
import { checkCommand } from "./commands/check.ts";
import { startCommand } from "./commands/start.ts";
import { entrypointCommand } from "./commands/entrypoint.ts";
import { reloadCommand } from "./commands/reload.ts";
import { templatesCommand } from "./commands/templates.ts";
import { watchCommand } from "./commands/watch.ts";
import packageJson from "../package.json" with { type: "json" };

// Argument parsing and dispatch only; each subcommand lives in src/commands/.

export const VERSION: string = packageJson.version;

export const COMMANDS: readonly CommandSpec[] = [
  startCommand,
  sniMapCommand,
  checkCommand,
  reloadCommand,
  watchCommand,
  entrypointCommand,
  templatesCommand,
];

/** With no arguments the binary starts Postfix, so it can stand as supervisord's program. */
const DEFAULT_COMMAND = "start";

export interface RunOptions {
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
  log?: Logger;
}

/** Parse argv, run one subcommand, return the exit code. Never calls process.exit. */
export async function run(argv: readonly string[], env: Env, options: RunOptions = {}): Promise<number> {
  const stderr = options.stderr ?? ((text: string) => writeAll(2, text));
  const log = options.log ?? createLogger(stderr);
  // Before anything can print one: every secret of the environment is redacted from log lines
  // and from command output (check, --json) in every form we print.
  for (const secret of secretValues(env)) log.addSecret(secret);
  const write = options.stdout ?? ((text: string) => writeAll(1, text));
  const stdout = (text: string) => write(log.redact(text));
  try {
    const first = argv[0];
    if (first === "--version" || first === "-V") {
      stdout(`${PROGRAM} ${VERSION}\n`);
      return 0;
    }
    if (first === "--help" || first === "-h" || first === "help") {
      stdout(globalUsage());
      return 0;
    }
    const name = first === undefined ? DEFAULT_COMMAND : first;
    const command = COMMANDS.find((candidate) => candidate.name === name);
    if (!command) throw new UsageError(`unknown command \`${name}\``, globalUsage());
    const words = first === undefined ? [] : argv.slice(1);
    // `entrypoint CMD --help` passes --help on to CMD; only flags before CMD are ours.
    if (words.slice(0, firstPositional(command, words)).includes("--help")) {
      stdout(commandUsage(command));
      return 0;
    }
    const context: CommandContext = { ...parseCommandArgs(command, words, env), env, log, stdout };
    return await command.run(context);
  } catch (error) {
    if (error instanceof UsageError) {
      stderr(`${PROGRAM}: ${error.message}\n\n${error.usage}`);
      return error.exitCode;
    }
    if (error instanceof UserError) {
      for (const line of error.lines ?? [error.message]) log.error(line);
      return error.exitCode;
    }
    const filesystem = describeFilesystemError(error);
    if (filesystem) {
      log.error(filesystem);
      return 1;
    }
    log.error(`internal error (please report): ${describeErrorChain(error)}`);
    return 70;
  }
}

/** Index of the first word that is not a flag or a flag's value (words.length when none). */
function firstPositional(command: CommandSpec, words: readonly string[]): number {
  for (let index = 0; index < words.length; index++) {
    const word = words[index]!;
    if (word === "--") return index;
    if (!word.startsWith("--")) return index;
    const spec = command.flags[word.slice(2).split("=")[0]!];
    if (spec?.type === "string" && !word.includes("=")) index++;
  }
  return words.length;
}

/** Flags first; for commands with `rest`, everything from the first positional on is passed through. */
export function parseCommandArgs(command: CommandSpec, words: readonly string[], env: Env): Pick<CommandContext, "flags" | "rest"> {
  const usage = commandUsage(command);
  const flags: CommandContext["flags"] = {};
  const rest: string[] = [];
  for (let index = 0; index < words.length; index++) {
    const word = words[index]!;
    if (word === "--") {
      // `sni-map -- --dry-run` must not silently drop the flag and write for real.
      if (!command.rest) throw new UsageError(`\`${command.name}\` takes no arguments, so \`--\` is not accepted`, usage);
      rest.push(...words.slice(index + 1));
      break;
    }
    if (!word.startsWith("-") || word === "-") {
      if (!command.rest) throw new UsageError(`\`${command.name}\` takes no argument \`${word}\``, usage);
      rest.push(...words.slice(index));
      break;
    }
    if (!word.startsWith("--")) throw new UsageError(`unknown flag \`${word}\` for \`${command.name}\``, usage);
    const [name, inline] = splitFlag(word.slice(2));
    const spec = command.flags[name];
    if (!spec) throw new UsageError(`unknown flag \`--${name}\` for \`${command.name}\``, usage);
    if (spec.type === "boolean") {
      if (inline !== undefined) throw new UsageError(`flag \`--${name}\` takes no value, got \`${inline}\``, usage);
      flags[name] = true;
      continue;
    }
    const value = inline ?? words[++index];
    if (value === undefined || (inline === undefined && value.startsWith("--"))) {
      throw new UsageError(`flag \`--${name}\` expects a value${spec.valueName ? ` (${spec.valueName})` : ""}`, usage);
    }
    // `--ssl-dir=` would otherwise mean the current directory.
    if (value === "") throw new UsageError(`flag \`--${name}\` expects a value${spec.valueName ? ` (${spec.valueName})` : ""}, got an empty one`, usage);
    flags[name] = value;
  }
  if (command.rest?.required && rest.length === 0) {
    throw new UsageError(`\`${command.name}\` needs ${command.rest.name}`, usage);
  }
  for (const [name, spec] of Object.entries(command.flags)) {
    if (flags[name] !== undefined) continue;
    if (spec.type === "boolean") {
      flags[name] = false;
      continue;
    }
    const fromEnv = spec.env ? env[spec.env] : undefined;
    flags[name] = fromEnv !== undefined && fromEnv !== "" ? fromEnv : spec.default;
  }
  return { flags, rest };
}

function splitFlag(text: string): [string, string | undefined] {
  const equals = text.indexOf("=");
  return equals === -1 ? [text, undefined] : [text.slice(0, equals), text.slice(equals + 1)];
}

export function globalUsage(): string {
  const width = Math.max(...COMMANDS.map((command) => command.name.length));
  const lines = COMMANDS.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`);
  return [
    `Usage: ${PROGRAM} [COMMAND] [FLAGS]`,
    "",
    "Startup for mailcow's Postfix container. Without a command: start.",
    "",
    "Commands:",
    ...lines,
    "",
    `Run \`${PROGRAM} COMMAND --help\` for a command's flags; --version prints the version.`,
    "",
  ].join("\n");
}

export function commandUsage(command: CommandSpec): string {
  const entries = Object.entries(command.flags).map(([name, spec]) => {
    const left = spec.type === "string" ? `--${name} ${spec.valueName ?? "VALUE"}` : `--${name}`;
    const extras = [spec.env ? `env ${spec.env}` : "", spec.default !== undefined ? `default ${spec.default}` : ""]
      .filter(Boolean)
      .join(", ");
    return [left, spec.description + (extras ? ` (${extras})` : "")] as const;
  });
  const width = Math.max(10, ...entries.map(([left]) => left.length));
  const rest = command.rest ? ` ${command.rest.required ? command.rest.name : `[${command.rest.name}]`}` : "";
  return [
    `Usage: ${PROGRAM} ${command.name} [FLAGS]${rest}`,
    "",
    command.summary,
    ...(command.rest ? ["", `${command.rest.name}: ${command.rest.description}`] : []),
    "",
    "Flags:",
    ...entries.map(([left, description]) => `  ${left.padEnd(width)}  ${description}`),
    `  ${"--help".padEnd(width)}  Show this help`,
    "",
  ].join("\n");
}
