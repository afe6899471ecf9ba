import { isGroup, type AnyCommand, type CommandSpec } from "./command.ts";
import type { Env } from "./env.ts";
import { UsageError, UserError, describeErrorChain, describeFilesystemError } from "./errors.ts";
import { helpCommandLine, usageOf, globalUsage } from "./help.ts";
import { createLogger, writeAll, PROGRAM, type Logger } from "./log.ts";
import { resolveOptions } from "./options.ts";
import { secretValues } from "./secrets.ts";
import { didYouMean } from "./suggest.ts";
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

export const COMMANDS: readonly AnyCommand[] = [
  startCommand,
  sniMapCommand,
  checkCommand,
  reloadCommand,
  watchCommand,
  entrypointCommand,
  templatesCommand,
];

/** With no command the binary starts Postfix, so it can stand as supervisord's program. */
const DEFAULT_COMMAND = "start";
const GLOBAL_HELP = `${PROGRAM} --help`;
const isHelp = (word: string) => word === "--help" || word === "-h";

export interface RunIo {
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
}

interface Dispatch {
  env: Env;
  log: Logger;
  stdout: (text: string) => void;
}

/** Parse argv, run one subcommand of `commands`, return the exit code. Never calls process.exit. */
export async function run(argv: readonly string[], env: Env, commands: readonly AnyCommand[] = COMMANDS, io: RunIo = {}): Promise<number> {
  const log = createLogger(io.stderr ?? ((text: string) => writeAll(2, text)));
  // Before anything can print one: every secret of the environment is redacted from log lines
  // and from command output (check, --json) in every form we print.
  for (const secret of secretValues(env)) log.addSecret(secret);
  const write = io.stdout ?? ((text: string) => writeAll(1, text));
  const dispatch: Dispatch = { env, log, stdout: (text) => write(log.redact(text)) };
  try {
    return await runTop(argv, commands, dispatch);
  } catch (error) {
    return report(error, log);
  }
}

async function runTop(argv: readonly string[], commands: readonly AnyCommand[], dispatch: Dispatch): Promise<number> {
  const first = argv[0];
  if (first === "--version" || first === "-V") {
    dispatch.stdout(`${PROGRAM} ${VERSION}\n`);
    return 0;
  }
  if (first === "help" || (first !== undefined && isHelp(first))) {
    dispatch.stdout(globalUsage(commands));
    return 0;
  }
  // No command, or flags first: the default command, start (a flag it lacks is an error saying so).
  if (first === undefined || first.startsWith("-")) {
    const start = commands.find((command) => command.name === DEFAULT_COMMAND);
    if (!start || isGroup(start)) throw new UsageError("a command is required", GLOBAL_HELP);
    return runCommand(start, argv, [], dispatch, commands);
  }
  const command = commands.find((candidate) => candidate.name === first);
  if (!command)
    throw new UsageError(
      `unknown command \`${first}\`${didYouMean(
        first,
        commands.map((c) => c.name),
      )}`,
      GLOBAL_HELP,
    );
  return runCommand(command, argv.slice(1), [command.name], dispatch, commands);
}

/** `path` is how the command was named ([] when it is the default command). */
async function runCommand(
  command: AnyCommand,
  words: readonly string[],
  path: readonly string[],
  dispatch: Dispatch,
  commands: readonly AnyCommand[],
): Promise<number> {
  const helpPath = path.length > 0 ? path : [command.name];
  if (isGroup(command)) {
    const [action, ...rest] = words;
    if (action !== undefined && isHelp(action)) {
      dispatch.stdout(usageOf(command, helpPath));
      return 0;
    }
    const names = command.subcommands.map((sub) => sub.name);
    const hint = helpCommandLine(helpPath);
    if (action === undefined) throw new UsageError(`\`${helpPath.join(" ")}\` needs an action: ${names.join(", ")}`, hint);
    if (action.startsWith("-"))
      throw new UsageError(`\`${action}\` before the action: write \`${helpPath.join(" ")} ACTION ${action}\``, hint);
    const sub = command.subcommands.find((candidate) => candidate.name === action);
    if (!sub)
      throw new UsageError(
        `unknown action \`${action}\` of \`${helpPath.join(" ")}\` (expected ${names.join(", ")})${didYouMean(action, names)}`,
        hint,
      );
    return runCommand(sub, rest, [...helpPath, sub.name], dispatch, commands);
  }
  const parsed = parseCommandWords(command, words, helpPath, path.length === 0 ? commands : undefined);
  if (parsed === "help") {
    dispatch.stdout(usageOf(command, helpPath));
    return 0;
  }
  const options = resolveOptions(command.options, parsed.given, dispatch.env, helpCommandLine(helpPath));
  const environment = await command.environment?.parse(dispatch.env);
  return command.run({ options, environment, rest: parsed.rest, inherited: dispatch.env, log: dispatch.log, stdout: dispatch.stdout });
}

/**
 * Flags first (each at most once); for commands with `rest`, everything from the first
 * positional on is passed through (`entrypoint CMD --help` is CMD's --help). `defaultedFrom`
 * is the command table when the command was not named (start by default), to point out a
 * command written after start's flags and a flag start lacks.
 */
function parseCommandWords(
  command: CommandSpec,
  words: readonly string[],
  path: readonly string[],
  defaultedFrom?: readonly AnyCommand[],
): { given: Map<string, string | true>; rest: string[] } | "help" {
  const flagNames = Object.entries(command.options)
    .filter(([, spec]) => !spec.envOnly)
    .map(([name]) => name);
  const given = new Map<string, string | true>();
  const rest: string[] = [];
  const fail: (message: string, hint?: string) => never = (message, hint = helpCommandLine(path)) => {
    throw new UsageError(message, hint);
  };
  for (let index = 0; index < words.length; index++) {
    const word = words[index]!;
    if (isHelp(word)) return "help";
    if (word === "--") {
      // `sni-map -- --dry-run` must not silently drop the flag and write for real.
      if (!command.rest) fail(`\`${path.join(" ")}\` takes no arguments, so \`--\` is not accepted`);
      rest.push(...words.slice(index + 1));
      break;
    }
    if (!word.startsWith("-") || word === "-") {
      if (defaultedFrom?.some((candidate) => candidate.name === word))
        fail(`the command \`${word}\` comes first, its flags after it: \`${PROGRAM} ${word} ${words.slice(0, index).join(" ")}\``);
      if (!command.rest) fail(`\`${path.join(" ")}\` takes no argument \`${word}\``);
      rest.push(...words.slice(index));
      break;
    }
    const [name, inline] = splitFlag(word.replace(/^--?/, ""));
    const spec = word.startsWith("--") && flagNames.includes(name) ? command.options[name]! : undefined;
    if (!spec) {
      const suggestion = didYouMean(
        `--${name}`,
        flagNames.map((flag) => `--${flag}`),
      );
      if (defaultedFrom)
        fail(
          `unknown flag \`${word}\`: flags given without a command are start's, and start has no such flag${suggestion}; put a command's flags after it`,
          GLOBAL_HELP,
        );
      fail(`unknown flag \`${word}\` for \`${path.join(" ")}\`${suggestion}`);
    }
    if (given.has(name)) fail(`flag \`--${name}\` given twice; give it once`);
    if (spec.type === "boolean") {
      if (inline !== undefined) fail(`flag \`--${name}\` takes no value, got \`${inline}\``);
      given.set(name, true);
      continue;
    }
    const valueName = spec.type === "seconds" ? "SECONDS" : spec.valueName;
    const value = inline ?? words[index + 1];
    if (inline === undefined) index++;
    if (value === undefined || (inline === undefined && value.startsWith("--"))) fail(`flag \`--${name}\` expects a value (${valueName})`);
    // `--ssl-dir=` would otherwise mean the current directory.
    if (value === "" && !(spec.type === "string" && spec.allowEmpty))
      fail(`flag \`--${name}\` expects a value (${valueName}), got an empty one`);
    given.set(name, value);
  }
  if (command.rest?.required && rest.length === 0) fail(`\`${path.join(" ")}\` needs ${command.rest.name}`);
  return { given, rest };
}

function splitFlag(text: string): [string, string | undefined] {
  const equals = text.indexOf("=");
  return equals === -1 ? [text, undefined] : [text.slice(0, equals), text.slice(equals + 1)];
}

/** The exit code for a failure, after its lines: usage (2), the admin's input (1), a bug (70). */
function report(error: unknown, log: Logger): number {
  if (error instanceof UsageError) {
    log.error(error.message);
    log.info(`hint: run \`${error.hint}\``);
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
