import { isGroup, type AnyCommand, type CommandGroup, type CommandSpec } from "./command.ts";
import { PROGRAM } from "./log.ts";
import type { OptionSpec } from "./options.ts";

// Help text, generated from the command declarations (docs/commands.md embeds it). Pure.

/** The command line that prints the help for `path` (e.g. ["templates", "extract"]). */
export function helpCommandLine(path: readonly string[]): string {
  return [PROGRAM, ...path, "--help"].join(" ");
}

export function globalUsage(commands: readonly AnyCommand[]): string {
  return [
    `Usage: ${PROGRAM} [COMMAND] [FLAGS]`,
    "",
    "Startup for mailcow's Postfix container. Without a command: start (flags given without a command are start's).",
    "",
    "Commands:",
    ...columns(commands.map((command) => [command.name, command.summary])),
    "",
    `Run \`${PROGRAM} COMMAND --help\` for a command's flags; --version prints the version.`,
    "",
  ].join("\n");
}

export function groupUsage(group: CommandGroup, path: readonly string[]): string {
  return [
    `Usage: ${PROGRAM} ${path.join(" ")} ACTION [FLAGS]`,
    "",
    group.summary,
    "",
    "Actions:",
    ...columns(group.subcommands.map((command) => [command.name, command.summary])),
    "",
    `Run \`${PROGRAM} ${path.join(" ")} ACTION --help\` for an action's flags.`,
    "",
  ].join("\n");
}

/** The help of one command or group at `path`. */
export function usageOf(command: AnyCommand, path: readonly string[]): string {
  return isGroup(command) ? groupUsage(command, path) : commandUsage(command, path);
}

export function commandUsage(command: CommandSpec, path: readonly string[]): string {
  const specs = Object.entries(command.options);
  const flags = specs.filter(([, spec]) => !spec.envOnly).map(([name, spec]) => [flagLeft(name, spec), describe(spec, true)] as const);
  const envOnly = [
    ...specs.filter(([, spec]) => spec.envOnly).map(([, spec]) => [spec.env!, describe(spec, false)] as const),
    ...Object.entries(command.environment?.variables ?? {}),
  ];
  const rest = command.rest ? ` ${command.rest.required ? command.rest.name : `[${command.rest.name}]`}` : "";
  const width = Math.max(10, ...[...flags, ...envOnly].map(([left]) => left.length));
  return [
    `Usage: ${PROGRAM} ${path.join(" ")} [FLAGS]${rest}`,
    "",
    command.summary,
    ...(command.rest ? ["", `${command.rest.name}: ${command.rest.description}`] : []),
    "",
    "Flags:",
    ...columns([...flags, ["--help", "Show this help"]], width),
    ...(envOnly.length > 0 ? ["", "Environment:", ...columns(envOnly, width)] : []),
    "",
  ].join("\n");
}

function flagLeft(name: string, spec: OptionSpec): string {
  if (spec.type === "boolean") return `--${name}`;
  return `--${name} ${spec.type === "seconds" ? "SECONDS" : spec.valueName}`;
}

function describe(spec: OptionSpec, withEnv: boolean): string {
  const extras = [
    withEnv && spec.env ? `env ${spec.env}` : "",
    spec.type !== "boolean" && spec.default !== undefined ? `default ${spec.default}` : "",
  ].filter(Boolean);
  return spec.description + (extras.length > 0 ? ` (${extras.join(", ")})` : "");
}

function columns(rows: readonly (readonly [string, string])[], minWidth = 0): string[] {
  const width = Math.max(minWidth, ...rows.map(([left]) => left.length));
  return rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`);
}
