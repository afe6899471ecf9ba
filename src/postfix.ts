import { existsSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "./errors.ts";
import { execaModule } from "./execa.ts";
import { readHashDbKeys } from "./hash-db.ts";
import type { Logger } from "./log.ts";
import { summarizeReasonFirst, summarizeToolOutput, toolMessages, type ToolMessages } from "./tool-output.ts";
import { childEnv } from "./secrets.ts";

// Every call into Postfix's tools, argv arrays only (no shell). A tool is judged by its result
// (exit status, and for postmap -F the keys of the table it built), never by the mere presence
// of stderr: on a lived-in mailcow config every tool prints "overriding earlier entry" warnings
// (extra.cf is appended under main.cf's Overrides marker) and exits 0. Those configuration
// warnings are logged once per run and never fail a step (see tool-output.ts).

/** Where the Postfix tools are looked up; tests may point this at another install. */
export const postfixTools = {
  postmap: "postmap",
  postalias: "postalias",
  postconf: "postconf",
  postfix: "postfix",
  postsuper: "postsuper",
};

/**
 * The config directory Postfix's tools read when run without -c (MAIL_CONFIG; Debian's build
 * default otherwise). Set by each command that runs the tools, from its resolved options, and
 * passed to every tool as MAIL_CONFIG, so what we check and what the tools read agree.
 */
const postfixDefaults = { configDir: "/etc/postfix" };

export function useDefaultConfigDir(configDir: string): void {
  postfixDefaults.configDir = configDir;
}

export function defaultConfigDir(): string {
  return postfixDefaults.configDir;
}

/** A Postfix tool's environment: ours without secrets (secrets.ts), MAIL_CONFIG as resolved. */
function toolEnv(): Record<string, string> {
  return { ...childEnv(), MAIL_CONFIG: postfixDefaults.configDir };
}

/** Whether the image's default config dir has a main.cf (mailcow's image does; a bare install may not). */
export function hasDefaultMainCf(): boolean {
  return existsSync(join(defaultConfigDir(), "main.cf"));
}

/**
 * Config directory arguments for postmap and postalias. mailcow's script runs both without -c,
 * i.e. with the image's /etc/postfix (Debian's stock main.cf): they need nothing from mailcow's
 * main.cf (the table type is always named), and the default config carries none of the admin's
 * overrides, so they print no configuration warnings. Only where there is no default main.cf
 * (a bare Postfix install; postmap is fatal then) the mailcow conf dir is used instead.
 */
export function mapToolConfigArgs(confDir: string): string[] {
  if (hasDefaultMainCf()) return [];
  return existsSync(join(confDir, "main.cf")) ? ["-c", confDir] : [];
}

interface ToolRun {
  exitCode: number | undefined;
  failed: boolean;
  stdout: string;
  stderr: string;
  shortMessage?: string;
  messages: ToolMessages;
}

/** Run a Postfix tool; resolves to its result and parsed stderr, never throws for exit status. */
async function runPostfixTool(tool: string, argv: string[], options: { input?: string; signal?: AbortSignal } = {}): Promise<ToolRun> {
  let result;
  try {
    const stdin = options.input === undefined ? { stdin: "ignore" as const } : { input: options.input };
    const { execa } = await execaModule();
    result = await execa(tool, argv, { reject: false, env: toolEnv(), extendEnv: false, ...stdin, ...(options.signal ? { cancelSignal: options.signal } : {}) });
  } catch (error) {
    throw new UserError(`cannot run ${tool}: ${(error as Error).message}; install Postfix or put ${tool} on PATH`, 1, { cause: error });
  }
  if (result.failed && result.exitCode === undefined && /ENOENT/.test(String(result.shortMessage ?? "") + String((result as { code?: string }).code ?? ""))) {
    throw new UserError(`${tool} not found; install Postfix or put ${tool} on PATH`);
  }
  return { exitCode: result.exitCode, failed: result.failed, stdout: String(result.stdout), stderr: String(result.stderr), shortMessage: result.shortMessage, messages: toolMessages(String(result.stderr)) };
}

/** Configuration warnings of a run that succeeded: logged, each distinct one once per run. */
function logToolWarnings(run: ToolRun, log: Logger | undefined): void {
  if (!log) return;
  // The same note about the same setting, whatever line of main.cf it is on by now (main.cf
  // is rewritten during the start, which moves the Overrides tail).
  for (const warning of run.messages.warnings) log.warnOnce(warning, warning.replace(/, line \d+: /, ": "));
  for (const notice of run.messages.notices) log.info(notice);
}

/** The failure with the tool's words, its "overriding earlier entry" notes last (summarizeReasonFirst). */
function toolFailure(what: string, run: ToolRun): string {
  const output = summarizeReasonFirst([run.stderr, run.stdout].join("\n"), (line) => line.includes("overriding earlier entry"));
  return `${what} failed (exit ${run.exitCode ?? "none"}): ${output || run.shortMessage || "no output"}`;
}

/** A run that exited 0 succeeded; its warnings are logged. Otherwise one error with its words. */
async function runChecked(what: string, tool: string, argv: string[], log: Logger | undefined): Promise<ToolRun> {
  const run = await runPostfixTool(tool, argv);
  if (run.failed) throw new UserError(toolFailure(what, run));
  logToolWarnings(run, log);
  return run;
}

/**
 * `postmap -F hash:FILE`: build FILE.db with the files named in FILE embedded. postmap exits 0
 * even when it skips an entry whose file it cannot read, so the build counts as good only when
 * postmap said nothing about FILE's own lines and the .db holds exactly `expectedKeys`.
 */
export async function postmapEmbedFiles(mapFile: string, confDir: string, expectedKeys: readonly string[], log?: Logger, signal?: AbortSignal): Promise<void> {
  const configArgs = mapToolConfigArgs(confDir);
  const run = await runPostfixTool(postfixTools.postmap, [...configArgs, "-F", `hash:${mapFile}`], { signal });
  if (run.failed) throw new UserError(toolFailure("postmap -F", run));
  // "postmap: warning: FILE, line N: open PATH: ...: skipping this entry" and its kin.
  const aboutEntries = run.messages.all.filter((line) => line.includes(`${mapFile}, line `) || line.includes("skipping this entry"));
  if (aboutEntries.length > 0) throw new UserError(`postmap -F could not embed every entry: ${summarizeToolOutput(aboutEntries.join("\n"))}`);
  const difference = await tableKeysDiffer(mapFile, configArgs, expectedKeys);
  if (difference) throw new UserError(`postmap -F built a table that does not match the map: ${difference}`);
  logToolWarnings(run, log);
}

/**
 * Change hash:MAP_FILE's .db in place, as postmap does when told to: `postmap -d -` removes
 * `remove` (keys on stdin), then `postmap -r -i` adds or replaces the entries of `upsert`
 * ("KEY VALUE" lines on stdin; the values as they are to be stored, so no -F). A line postmap
 * warns about (a malformed line, a duplicate) counts as a failure, as in postmapEmbedFiles.
 */
export async function postmapUpdate(mapFile: string, confDir: string, remove: readonly string[], upsert: string, log?: Logger): Promise<void> {
  const configArgs = mapToolConfigArgs(confDir);
  const steps: [string, string[], string][] = [];
  if (remove.length > 0) steps.push(["postmap -d", ["-d", "-"], remove.map((key) => `${key}\n`).join("")]);
  if (upsert.length > 0) steps.push(["postmap -r -i", ["-r", "-i"], upsert]);
  for (const [what, flags, input] of steps) {
    const run = await runPostfixTool(postfixTools.postmap, [...configArgs, ...flags, `hash:${mapFile}`], { input });
    if (run.failed) throw new UserError(toolFailure(what, run));
    const aboutEntries = run.messages.all.filter((line) => /\bstdin, line \d+:|duplicate entry/.test(line));
    if (aboutEntries.length > 0) throw new UserError(`${what} did not take every entry: ${summarizeToolOutput(aboutEntries.join("\n"))}`);
    logToolWarnings(run, log);
  }
}

/**
 * What differs between `expectedKeys` and the keys of hash:MAP_FILE, or undefined when they are
 * equal. The .db is read directly first (hash-db.ts: ~130 pages, 18-45 ms measured at 10,000
 * names); only when that read cannot confirm the keys, `postmap -s` (~40 MB of output with -F,
 * 0.4-0.6 s) decides.
 */
export async function tableKeysDiffer(mapFile: string, configArgs: string[], expectedKeys: readonly string[]): Promise<string | undefined> {
  if (dbHoldsExactly(mapFile, expectedKeys)) return undefined;
  return compareKeys(expectedKeys, await postmapKeys(`hash:${mapFile}`, configArgs));
}

/** Whether MAP_FILE.db, read directly (hash-db.ts), holds exactly `expectedKeys`; false when that read cannot tell. */
export function dbHoldsExactly(mapFile: string, expectedKeys: readonly string[]): boolean {
  const stored = readHashDbKeys(`${mapFile}.db`);
  return stored !== undefined && compareKeys(expectedKeys, stored) === undefined;
}

/** What differs between the keys written and the keys stored, or undefined when they are equal. Pure. */
export function compareKeys(expected: readonly string[], stored: readonly string[]): string | undefined {
  const want = new Set(expected);
  const have = new Set(stored);
  const missing = [...want].filter((key) => !have.has(key));
  const extra = [...have].filter((key) => !want.has(key));
  if (missing.length === 0 && extra.length === 0 && stored.length === have.size) return undefined;
  const sample = (keys: string[]) => keys.slice(0, 3).join(", ") + (keys.length > 3 ? ", ..." : "");
  const parts = [`${have.size} of ${want.size} names stored`];
  if (missing.length) parts.push(`missing ${missing.length} (${sample(missing)})`);
  if (extra.length) parts.push(`unexpected ${extra.length} (${sample(extra)})`);
  if (stored.length !== have.size) parts.push(`${stored.length - have.size} duplicate keys`);
  return parts.join("; ");
}

/**
 * Every key of an indexed table (`postmap -s`), read as a stream: with -F the values are the
 * embedded files in base64 (~4 KB per entry, 40 MB at 10,000 names), which are skipped, never
 * held. Keys end at the first tab; values never contain a newline. Streamed through execa as
 * fast as through Bun.spawn (10,000 names, 37.7 MB: median 0.20 s both, 16 runs each).
 */
export async function postmapKeys(map: string, configArgs: string[]): Promise<string[]> {
  const { execa } = await execaModule();
  // stdout unbuffered (read below as it comes), stderr kept for the error message.
  const child = execa(postfixTools.postmap, [...configArgs, "-s", map], { stdin: "ignore", buffer: { stdout: false, stderr: true }, reject: false, env: toolEnv(), extendEnv: false });
  const keys: string[] = [];
  let key: number[] | undefined = [];
  const decoder = new TextDecoder();
  for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
    let position = 0;
    while (position < chunk.length) {
      if (key) {
        const tab = chunk.indexOf(9, position);
        const newline = chunk.indexOf(10, position);
        const end = tab === -1 ? newline : newline === -1 ? tab : Math.min(tab, newline);
        const stop = end === -1 ? chunk.length : end;
        for (let index = position; index < stop; index++) key.push(chunk[index]!);
        if (end === -1) break;
        keys.push(decoder.decode(new Uint8Array(key)));
        key = chunk[end] === 10 ? [] : undefined;
        position = end + 1;
      } else {
        const newline = chunk.indexOf(10, position);
        if (newline === -1) break;
        key = [];
        position = newline + 1;
      }
    }
  }
  const result = await child;
  if (result.failed) throw new UserError(`postmap -s ${map} failed (exit ${result.exitCode ?? "none"}): ${summarizeToolOutput(String(result.stderr)) || result.shortMessage || "no output"}`);
  return keys;
}

/**
 * `postconf -c DIR -hx NAMES`, keyed by name, as the start's configuration check too: postconf
 * parses main.cf and master.cf for any query (measured: a master.cf line with a bad field count
 * is fatal for `-hx daemon_directory` as for the full listing), and its stderr is the admin's best
 * diagnosis. A failure is "Postfix configuration error, refusing to start" with postconf's own
 * lines, one log line each (at most five: summarizeToolOutput).
 */
export async function postconfCheckedRecord<N extends string>(confDir: string, names: readonly N[], log?: Logger): Promise<Record<N, string>> {
  const run = await runPostfixTool(postfixTools.postconf, ["-c", confDir, "-hx", ...names]);
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
export async function postconfValues(confDir: string, names: readonly string[], log?: Logger): Promise<string[]> {
  const record = await postconfRecord(confDir, names, log);
  return names.map((name) => record[name]!);
}

/** The same, keyed by name (one `postconf -hx` run). */
export async function postconfRecord<N extends string>(confDir: string, names: readonly N[], log?: Logger): Promise<Record<N, string>> {
  const run = await runChecked(`postconf -c ${confDir} -hx ${names.join(" ")}`, postfixTools.postconf, ["-c", confDir, "-hx", ...names], log);
  return recordOf(`postconf -c ${confDir} -hx`, names, run.stdout);
}

/** postconf -h's lines keyed by the names asked, in order; a UserError when the count differs. */
function recordOf<N extends string>(what: string, names: readonly N[], stdout: string): Record<N, string> {
  const values = stdout.replace(/\n$/, "").split("\n");
  if (values.length !== names.length) throw new UserError(`${what} ${names.join(" ")} printed ${values.length} lines for ${names.length} parameters`);
  return Object.fromEntries(names.map((name, index) => [name, values[index]!.trim()])) as Record<N, string>;
}

/**
 * `postfix [-c DIR] set-permissions`: owner and mode of every file in Postfix's postfix-files
 * list: the config dir's main.cf and master.cf and the dir itself, the queue, the data dir, the
 * programs. Without `confDir` it is the default config dir (mailcow's script runs it so).
 */
export async function postfixSetPermissions(confDir: string | undefined, log?: Logger): Promise<void> {
  const configArgs = confDir === undefined ? [] : ["-c", confDir];
  await runChecked(["postfix", ...configArgs, "set-permissions"].join(" "), postfixTools.postfix, [...configArgs, "set-permissions"], log);
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
export async function postfixCreateMissing(confDir: string, log?: Logger): Promise<void> {
  await runChecked(`postfix -c ${confDir} post-install create-missing`, postfixTools.postfix, ["-c", confDir, "post-install", "create-missing"], log);
}

/** Whether master.cf defines the `postlog` unix-dgram service (`postconf -M postlog/unix-dgram`). */
export async function postlogServiceDefined(confDir: string, log?: Logger): Promise<boolean> {
  const run = await runChecked(`postconf -c ${confDir} -M postlog/unix-dgram`, postfixTools.postconf, ["-c", confDir, "-M", "postlog/unix-dgram"], log);
  return run.stdout.trim() !== "";
}

/**
 * `postsuper -c DIR` without arguments, as `postfix start` runs it before master: renames queue
 * files whose names no longer match their inode (after a restore from backup), moves misplaced
 * ones. What it says about the queue ("Renamed to match inode number: 1 message") is logged;
 * a failure is an error with its words.
 */
export async function postsuperRepair(confDir: string, log?: Logger): Promise<void> {
  await runChecked(`postsuper -c ${confDir} (queue repair)`, postfixTools.postsuper, ["-c", confDir], log);
}

/** `postfix -c DIR reload`: master re-reads its config and restarts its children. */
export async function postfixReload(confDir: string, log?: Logger): Promise<void> {
  await runChecked(`postfix -c ${confDir} reload`, postfixTools.postfix, ["-c", confDir, "reload"], log);
}

/**
 * Build FILE.db from an aliases file. `postalias` on the explicit file (rather than
 * `newaliases`, which follows alias_database in some main.cf) so the path can be overridden.
 * Exit status decides; configuration warnings are logged.
 */
export async function postaliasBuild(aliasesFile: string, confDir: string, log?: Logger): Promise<void> {
  await runChecked(`postalias hash:${aliasesFile}`, postfixTools.postalias, [...mapToolConfigArgs(confDir), `hash:${aliasesFile}`], log);
}

/**
 * `master -t`: exit 0 when master.pid is absent or not locked, i.e. no master runs for this
 * queue; exit 1 without a fatal message when one does. Postfix's own test, so the lock style
 * (flock/fcntl) is whatever master uses.
 */
export async function masterIsRunning(masterPath: string, confDir: string, log?: Logger): Promise<boolean> {
  const run = await runPostfixTool(masterPath, ["-t", "-c", confDir]);
  if (run.exitCode === 0 || (run.exitCode === 1 && run.messages.errors.length === 0)) {
    logToolWarnings(run, log);
    return run.exitCode === 1;
  }
  throw new UserError(toolFailure(`${masterPath} -t -c ${confDir}`, run));
}
