import { chownSync, chmodSync, existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { errnoText, UserError } from "../errors.ts";
import type { Logger } from "../log.ts";
import {
  hasDefaultMainCf,
  postconfRecord,
  postconfValues,
  postfixSetPermissions,
  QUEUE_LAYOUT,
  type PostfixTools,
} from "../postfix/index.ts";
import type { PostfixIds, StepContext } from "./context.ts";
import { settleMtime } from "./files.ts";
import { findPermissionDrift, idLookupFromFiles, parseIdTable, POSTFIX_FILES_VARIABLES, readPostfixFiles } from "./permissions-check.ts";

// Ownership exactly as mailcow's script sets it and nothing more: SQL maps and
// custom_transport.pcre root:postfix 0640, the queue's public and maildrop dirs group postdrop,
// then Postfix's own set-permissions with the image's default config dir. The rest of the conf
// dir (main.cf, master.cf, extra.cf, the dir itself) is the admin's, often a git checkout owned
// by their uid with group-writable files, and keeps its owner and modes.

/** The postfix and postdrop gids of this system (the image creates them with fixed ids). */
export function lookupPostfixIds(groupFilePath = "/etc/group"): PostfixIds {
  let text: string;
  try {
    text = readFileSync(groupFilePath, "utf8");
  } catch (error) {
    throw new UserError(`cannot read ${groupFilePath}: ${errnoText(error)}`, 1, { cause: error });
  }
  const ids = parseIdTable(text);
  const gid = (name: string) => {
    const value = ids.get(name);
    if (value === undefined) throw new UserError(`group ${name} does not exist in ${groupFilePath}; is Postfix installed?`);
    return value;
  };
  return { postfixGid: gid("postfix"), postdropGid: gid("postdrop") };
}

/** chown/chmod a tree without following symlinks out of it. */
function walk(path: string, visit: (path: string, isDirectory: boolean) => void): void {
  const stat = lstatSync(path);
  if (stat.isSymbolicLink()) return;
  visit(path, stat.isDirectory());
  if (stat.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name), visit);
}

/**
 * The postfix-files variables of the image's default config dir (/etc/postfix, which the start
 * does not write), read ahead: `start` begins this while it waits for the database and DNS.
 * Undefined where there is no default main.cf (then CONF's values are read later instead).
 */
export function readDefaultPostfixFilesVariables(tools: PostfixTools, log: Logger): Promise<Record<string, string>> | undefined {
  if (!hasDefaultMainCf(tools)) return undefined;
  const variables = postfixFilesVariables(tools, tools.configDir, log);
  variables.catch(() => {}); // awaited (and reported) by fixPermissions
  return variables;
}

/**
 * Returns the QUEUE_LAYOUT values set-permissions worked with (it implies create-missing for
 * them). `defaultVariables`: readDefaultPostfixFilesVariables's promise, when started earlier.
 */
export async function fixPermissions(
  context: StepContext,
  ids: PostfixIds,
  defaultVariables?: Promise<Record<string, string>>,
): Promise<string[]> {
  const { confDir, spoolDir } = context.paths;
  try {
    const sqlDir = join(confDir, "sql");
    walk(sqlDir, (path, isDirectory) => {
      chownSync(path, 0, ids.postfixGid);
      if (!isDirectory && path.endsWith(".cf")) chmodSync(path, 0o640);
    });
    const transport = join(confDir, "custom_transport.pcre");
    chownSync(transport, 0, ids.postfixGid);
    chmodSync(transport, 0o640);
    for (const name of ["public", "maildrop"]) {
      const dir = join(spoolDir, name);
      if (existsSync(dir)) walk(dir, (path) => chownSync(path, -1, ids.postdropGid));
    }
  } catch (error) {
    if (error instanceof UserError) throw error;
    const path = (error as { path?: string }).path ?? "a Postfix file";
    throw new UserError(`cannot fix ownership of ${path}: ${errnoText(error)}`, 1, { cause: error });
  }
  return setPermissionsAsStock(context.tools, confDir, context.log, defaultVariables);
}

/**
 * Plain `postfix set-permissions`, as mailcow's script runs it: the image's /etc/postfix (its
 * queue_directory is the spool volume), never `-c CONF`, which would make the admin's main.cf
 * and master.cf root 644 and the conf dir root 755. Where the default config dir has no main.cf
 * (a bare Postfix install: a developer machine, the unit tests) plain set-permissions cannot
 * run; it then runs with a throwaway config dir whose main.cf names only CONF's queue layout
 * (queue and data directories, owner and group), so the queue master will use is still put
 * right and CONF is not touched. Returns the queue layout it worked with.
 */
async function setPermissionsAsStock(
  tools: PostfixTools,
  confDir: string,
  log: Logger,
  defaultVariables?: Promise<Record<string, string>>,
): Promise<string[]> {
  if (hasDefaultMainCf(tools)) {
    const variables = await (defaultVariables ?? postfixFilesVariables(tools, tools.configDir, log));
    await setPermissionsWhenNeeded(tools, undefined, variables, log);
    return QUEUE_LAYOUT.map((name) => variables[name]!);
  }
  const names = [...QUEUE_LAYOUT, "compatibility_level"];
  const values = await postconfValues(tools, confDir, names, log);
  // Not the option files' prefix: a start's clean-up of killed runs' option dirs must not take it.
  const privateDir = mkdtempSync(join(tmpdir(), "mpi-set-permissions-config-"));
  try {
    // As a config dir is installed (postfix-files lists it root 755).
    chmodSync(privateDir, 0o755);
    const mainCf = join(privateDir, "main.cf");
    writeFileSync(mainCf, names.map((name, index) => `${name} = ${values[index]}\n`).join(""));
    settleMtime(mainCf);
    writeFileSync(join(privateDir, "master.cf"), "");
    await setPermissionsWhenNeeded(tools, privateDir, await postfixFilesVariables(tools, privateDir, log), log);
  } finally {
    rmSync(privateDir, { recursive: true, force: true });
  }
  return values.slice(0, QUEUE_LAYOUT.length);
}

/** Every variable postfix-files uses (and the queue layout), as that config dir expands them: one postconf. */
async function postfixFilesVariables(tools: PostfixTools, configDir: string, log: Logger): Promise<Record<string, string>> {
  return postconfRecord<string>(tools, configDir, [...new Set([...QUEUE_LAYOUT, ...POSTFIX_FILES_VARIABLES])], log);
}

/**
 * The real `postfix set-permissions` (a shell script spawning a process per entry)
 * only when a read-only walk of the same postfix-files list finds something it would change,
 * or something the walk does not understand (permissions-check.ts).
 */
async function setPermissionsWhenNeeded(
  tools: PostfixTools,
  configDir: string | undefined,
  variables: Record<string, string>,
  log: Logger,
): Promise<void> {
  let drift: string | undefined;
  try {
    drift = findPermissionDrift(readPostfixFiles(variables.meta_directory!), variables, idLookupFromFiles());
  } catch (error) {
    drift = `postfix-files could not be checked (${errnoText(error)})`;
  }
  if (drift === undefined) {
    log.info("postfix set-permissions skipped: every entry of Postfix's postfix-files list already has its owner, group and mode");
    return;
  }
  log.info(`running postfix set-permissions: ${drift}`);
  await postfixSetPermissions(tools, configDir, log);
}
