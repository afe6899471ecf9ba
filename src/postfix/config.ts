import { UserError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { logToolWarnings, recordOf, summarizeReasonFirst } from "./output.ts";
import { runChecked, runTool, type PostfixTools } from "./tools.ts";

// Questions to postconf about a config dir.

/**
 * `postconf -c DIR -hx NAMES`, keyed by name, as the start's configuration check too: postconf
 * parses main.cf and master.cf for any query (measured: a master.cf line with a bad field count
 * is fatal for `-hx daemon_directory` as for the full listing), and its stderr is the admin's best
 * diagnosis. A failure is "Postfix configuration error, refusing to start" with postconf's own
 * lines, one log line each (at most five: summarizeToolOutput).
 */
export async function postconfCheckedRecord<N extends string>(
  tools: PostfixTools,
  confDir: string,
  names: readonly N[],
  log?: Logger,
): Promise<Record<N, string>> {
  const run = await runTool(tools, "postconf", ["-c", confDir, "-hx", ...names]);
  if (run.failed) {
    // The fatal line first, its warnings after it (summarizeReasonFirst).
    const reason = summarizeReasonFirst(run.stderr);
    const message = `Postfix configuration error, refusing to start (postconf -c ${confDir}):\n${reason || run.shortMessage}`;
    throw new UserError(message, 1, { lines: message.split("\n") });
  }
  logToolWarnings(run, log);
  return recordOf(`postconf -c ${confDir} -hx`, names, run.stdout);
}

/** Several parameters' values in one `postconf -hx` run, in the order asked. */
export async function postconfValues(tools: PostfixTools, confDir: string, names: readonly string[], log?: Logger): Promise<string[]> {
  const record = await postconfRecord(tools, confDir, names, log);
  return names.map((name) => record[name]!);
}

/** The same, keyed by name (one `postconf -hx` run). */
export async function postconfRecord<N extends string>(
  tools: PostfixTools,
  confDir: string,
  names: readonly N[],
  log?: Logger,
): Promise<Record<N, string>> {
  const run = await runChecked(tools, `postconf -c ${confDir} -hx ${names.join(" ")}`, "postconf", ["-c", confDir, "-hx", ...names], log);
  return recordOf(`postconf -c ${confDir} -hx`, names, run.stdout);
}

/** Whether master.cf defines the `postlog` unix-dgram service (`postconf -M postlog/unix-dgram`). */
export async function postlogServiceDefined(tools: PostfixTools, confDir: string, log?: Logger): Promise<boolean> {
  const run = await runChecked(
    tools,
    `postconf -c ${confDir} -M postlog/unix-dgram`,
    "postconf",
    ["-c", confDir, "-M", "postlog/unix-dgram"],
    log,
  );
  return run.stdout.trim() !== "";
}
