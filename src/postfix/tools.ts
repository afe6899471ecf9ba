import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Env } from "../env.ts";
import { UserError } from "../errors.ts";
import { execaModule } from "../execa.ts";
import type { Logger } from "../log.ts";
import { withoutSecrets } from "../secrets.ts";
import { logToolWarnings, toolFailure, toolRun, type ToolRun } from "./output.ts";

// Running Postfix's tools: argv arrays only (no shell), judged by their result (exit status,
// and for postmap -F the keys of the table it built), never by the mere presence of stderr: on
// a lived-in mailcow config every tool prints "overriding earlier entry" warnings (extra.cf is
// appended under main.cf's Overrides marker) and exits 0 (output.ts).

export type PostfixProgram = "postmap" | "postalias" | "postconf" | "postfix" | "postsuper";

/**
 * Everything a Postfix tool run depends on besides its arguments, resolved once per command
 * from its options: the default config dir (MAIL_CONFIG, read by every tool run without -c,
 * so what we check and what the tools read agree), the environment the tools get, and where
 * each program is found. Passed down to every function that runs a tool; never global.
 */
export interface PostfixTools {
  readonly configDir: string;
  /** The command's environment without secrets (secrets.ts), MAIL_CONFIG = configDir. */
  readonly env: Readonly<Record<string, string>>;
  readonly programs: Readonly<Record<PostfixProgram, string>>;
}

export interface PostfixToolsOptions {
  /** The resolved MAIL_CONFIG option. */
  configDir: string;
  /** The environment the command received (its `inherited`), PATH included. */
  env: Env;
  /** Another install's programs (tests: a recorder); by default looked up in env's PATH. */
  programs?: Partial<Record<PostfixProgram, string>>;
}

const PROGRAMS: Record<PostfixProgram, string> = {
  postmap: "postmap",
  postalias: "postalias",
  postconf: "postconf",
  postfix: "postfix",
  postsuper: "postsuper",
};

/** The tools value of one command; refuses to exist without a config dir. */
export function createPostfixTools(options: PostfixToolsOptions): PostfixTools {
  const { configDir } = options;
  if (typeof configDir !== "string" || configDir === "")
    throw new TypeError("Postfix's tools need their config dir (MAIL_CONFIG); none was given");
  return Object.freeze({
    configDir,
    env: Object.freeze({ ...withoutSecrets(options.env), MAIL_CONFIG: configDir }),
    programs: Object.freeze({ ...PROGRAMS, ...options.programs }),
  });
}

/** Whether the default config dir has a main.cf (mailcow's image does; a bare install may not). */
export function hasDefaultMainCf(tools: PostfixTools): boolean {
  return existsSync(join(tools.configDir, "main.cf"));
}

/** What a tool is: one of the programs, or a path (master, from daemon_directory). */
export type ToolName = PostfixProgram | { path: string };

export function programPath(tools: PostfixTools, tool: ToolName): string {
  return typeof tool === "string" ? tools.programs[tool] : tool.path;
}

/** Run a Postfix tool; resolves to its result and parsed stderr, never throws for exit status. */
export async function runTool(
  tools: PostfixTools,
  tool: ToolName,
  argv: string[],
  options: {
    input?: string;
    signal?: AbortSignal;
    /** Called once the tool has been started, before waiting for it: work of ours that can overlap the tool's. */
    whileRunning?: () => void;
  } = {},
): Promise<ToolRun> {
  const program = programPath(tools, tool);
  const stdin = options.input === undefined ? { stdin: "ignore" as const } : { input: options.input };
  const { execa } = await execaModule();
  const running = execa(program, argv, {
    reject: false,
    env: tools.env,
    extendEnv: false,
    ...stdin,
    ...(options.signal ? { cancelSignal: options.signal } : {}),
  });
  try {
    options.whileRunning?.();
  } catch (error) {
    await running.catch(() => undefined); // never leave the tool running unwaited
    throw error;
  }
  const result = await running.catch((error: unknown) => {
    throw new UserError(`cannot run ${program}: ${(error as Error).message}; install Postfix or put ${program} on PATH`, 1, {
      cause: error,
    });
  });
  if (
    result.failed &&
    result.exitCode === undefined &&
    /ENOENT/.test(String(result.shortMessage ?? "") + String((result as { code?: string }).code ?? ""))
  ) {
    throw new UserError(`${program} not found; install Postfix or put ${program} on PATH`);
  }
  return toolRun({
    exitCode: result.exitCode,
    failed: result.failed,
    stdout: String(result.stdout),
    stderr: String(result.stderr),
    shortMessage: result.shortMessage,
  });
}

/** A run that exited 0 succeeded; its warnings are logged. Otherwise one error with its words. */
export async function runChecked(
  tools: PostfixTools,
  what: string,
  tool: ToolName,
  argv: string[],
  log: Logger | undefined,
): Promise<ToolRun> {
  const run = await runTool(tools, tool, argv);
  if (run.failed) throw new UserError(toolFailure(what, run));
  logToolWarnings(run, log);
  return run;
}
