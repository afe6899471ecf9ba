import { UserError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { logToolWarnings, toolFailure } from "./output.ts";
import { runChecked, runTool, type PostfixTools } from "./tools.ts";

// What `postfix start` and `postfix reload` do around master: permissions, missing queue
// directories, queue repair, the running-master test, reload.

/**
 * `postfix [-c DIR] set-permissions`: owner and mode of every file in Postfix's postfix-files
 * list: the config dir's main.cf and master.cf and the dir itself, the queue, the data dir, the
 * programs. Without `confDir` it is the default config dir (mailcow's script runs it so).
 */
export async function postfixSetPermissions(tools: PostfixTools, confDir: string | undefined, log?: Logger): Promise<void> {
  const configArgs = confDir === undefined ? [] : ["-c", confDir];
  await runChecked(tools, ["postfix", ...configArgs, "set-permissions"].join(" "), "postfix", [...configArgs, "set-permissions"], log);
}

/**
 * The settings that decide what `post-install create-missing` creates (postfix-files' entries
 * flagged "c": the queue directory and its subdirectories, the data directory) and with which
 * owner and group.
 */
export const QUEUE_LAYOUT = ["queue_directory", "data_directory", "mail_owner", "setgid_group"] as const;

/**
 * `postfix -c DIR post-install create-missing`, the first step of `postfix start`'s
 * check-fatal: creates missing queue and data directories (owner and mode as postfix-files
 * says), changes nothing that exists.
 */
export async function postfixCreateMissing(tools: PostfixTools, confDir: string, log?: Logger): Promise<void> {
  await runChecked(
    tools,
    `postfix -c ${confDir} post-install create-missing`,
    "postfix",
    ["-c", confDir, "post-install", "create-missing"],
    log,
  );
}

/**
 * `postsuper -c DIR` without arguments, as `postfix start` runs it before master: renames queue
 * files whose names no longer match their inode (after a restore from backup), moves misplaced
 * ones. What it says about the queue ("Renamed to match inode number: 1 message") is logged;
 * a failure is an error with its words.
 */
export async function postsuperRepair(tools: PostfixTools, confDir: string, log?: Logger): Promise<void> {
  await runChecked(tools, `postsuper -c ${confDir} (queue repair)`, "postsuper", ["-c", confDir], log);
}

/** `postfix -c DIR reload`: master re-reads its config and restarts its children. */
export async function postfixReload(tools: PostfixTools, confDir: string, log?: Logger): Promise<void> {
  await runChecked(tools, `postfix -c ${confDir} reload`, "postfix", ["-c", confDir, "reload"], log);
}

/**
 * `master -t`: exit 0 when master.pid is absent or not locked, i.e. no master runs for this
 * queue; exit 1 without a fatal message when one does. Postfix's own test, so the lock style
 * (flock/fcntl) is whatever master uses.
 */
export async function masterIsRunning(tools: PostfixTools, masterPath: string, confDir: string, log?: Logger): Promise<boolean> {
  const run = await runTool(tools, { path: masterPath }, ["-t", "-c", confDir]);
  if (run.exitCode === 0 || (run.exitCode === 1 && run.messages.errors.length === 0)) {
    logToolWarnings(run, log);
    return run.exitCode === 1;
  }
  throw new UserError(toolFailure(`${masterPath} -t -c ${confDir}`, run));
}
