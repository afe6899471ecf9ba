import { execa, ExecaError } from "execa";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "./errors.ts";

// Every call into Postfix's tools, argv arrays only (no shell), exit status and stderr checked.

/** Where the Postfix tools are looked up; tests may point this at another install. */
export const postfixTools = {
  postmap: "postmap",
  postconf: "postconf",
  postfix: "postfix",
};

/**
 * postmap reads main.cf from its config directory. mailcow keeps the real one in the conf
 * dir (the image's /etc/postfix has none of the settings), so use it when it is there.
 */
export function configDirArgs(confDir: string): string[] {
  return existsSync(join(confDir, "main.cf")) ? ["-c", confDir] : [];
}

/**
 * `postmap -F hash:FILE`: build FILE.db with the files named in FILE embedded. postmap exits 0
 * even when it skips entries it cannot read, so any warning on stderr counts as failure.
 */
export async function postmapEmbedFiles(mapFile: string, confDir: string): Promise<void> {
  const argv = [...configDirArgs(confDir), "-F", `hash:${mapFile}`];
  let result;
  try {
    result = await execa(postfixTools.postmap, argv, { reject: false, stdin: "ignore", all: false });
  } catch (error) {
    throw new UserError(`cannot run postmap (${postfixTools.postmap}): ${(error as Error).message}; install Postfix or put postmap on PATH`, 1, { cause: error });
  }
  const stderr = result.stderr.trim();
  if (result.failed || stderr !== "") {
    const reason = result.code === "ENOENT" || (result as { cause?: { code?: string } }).cause?.code === "ENOENT"
      ? `postmap not found (${postfixTools.postmap}); install Postfix or put postmap on PATH`
      : `postmap -F failed (exit ${result.exitCode ?? "none"}): ${stderr || result.shortMessage}`;
    throw new UserError(reason);
  }
}

export { ExecaError };

// ---- startup and reload (issue 3) ----

/** Run a Postfix tool with `-c confDir`; resolves to its result, never throws for exit status. */
async function runPostfixTool(tool: string, argv: string[]) {
  try {
    return await execa(tool, argv, { reject: false, stdin: "ignore" });
  } catch (error) {
    throw new UserError(`cannot run ${tool}: ${(error as Error).message}`, 1, { cause: error });
  }
}

function toolFailure(what: string, result: { exitCode?: number; stdout: string; stderr: string; shortMessage?: string }): string {
  const output = [result.stderr.trim(), result.stdout.trim()].filter(Boolean).join("\n");
  return `${what} failed (exit ${result.exitCode ?? "none"}): ${output || result.shortMessage || "no output"}`;
}

/** `postconf -c DIR`: parses main.cf and master.cf; its stderr is the admin's best diagnosis. */
export async function postconfCheck(confDir: string): Promise<{ warnings: string[] }> {
  const result = await runPostfixTool(postfixTools.postconf, ["-c", confDir]);
  if (result.failed) {
    throw new UserError(`Postfix configuration error, refusing to start (postconf -c ${confDir}):\n${result.stderr.trim() || result.shortMessage}`);
  }
  return { warnings: result.stderr.split("\n").filter((line) => line.trim() !== "") };
}

/** One parameter's value as Postfix sees it with this config dir (`postconf -h`). */
export async function postconfValue(confDir: string, name: string): Promise<string> {
  const result = await runPostfixTool(postfixTools.postconf, ["-c", confDir, "-h", name]);
  if (result.failed) throw new UserError(toolFailure(`postconf -c ${confDir} -h ${name}`, result));
  return result.stdout.trim();
}

/** `postfix -c DIR set-permissions`: ownership and modes of queue and program files. */
export async function postfixSetPermissions(confDir: string): Promise<void> {
  const result = await runPostfixTool(postfixTools.postfix, ["-c", confDir, "set-permissions"]);
  if (result.failed) throw new UserError(toolFailure(`postfix -c ${confDir} set-permissions`, result));
}

/** `postfix -c DIR reload`: master re-reads its config and restarts its children. */
export async function postfixReload(confDir: string): Promise<void> {
  const result = await runPostfixTool(postfixTools.postfix, ["-c", confDir, "reload"]);
  if (result.failed) throw new UserError(toolFailure(`postfix -c ${confDir} reload`, result));
}

/**
 * Build FILE.db from an aliases file. `postalias` on the explicit file (rather than
 * `newaliases`, which follows alias_database in some main.cf) so the path can be overridden.
 */
export async function postaliasBuild(aliasesFile: string, confDir: string): Promise<void> {
  const result = await runPostfixTool("postalias", [...configDirArgs(confDir), `hash:${aliasesFile}`]);
  if (result.failed || result.stderr.trim() !== "") throw new UserError(toolFailure(`postalias hash:${aliasesFile}`, result));
}

/** The master program for this config (daemon_directory/master). */
export async function masterProgramPath(confDir: string): Promise<string> {
  return join(await postconfValue(confDir, "daemon_directory"), "master");
}

/**
 * `master -t`: exit 0 when master.pid is absent or not locked, i.e. no master runs for this
 * queue. Postfix's own test, so the lock style (flock/fcntl) is whatever master uses.
 */
export async function masterIsRunning(masterPath: string, confDir: string): Promise<boolean> {
  const result = await runPostfixTool(masterPath, ["-t", "-c", confDir]);
  if (result.exitCode === 0) return false;
  if (result.exitCode === 1 && !result.stderr.includes("fatal")) return true;
  throw new UserError(toolFailure(`${masterPath} -t -c ${confDir}`, result));
}

/** `postmap -q KEY TYPE:FILE`; undefined when the key is not found (exit 1). */
export async function postmapQuery(key: string, map: string, confDir: string): Promise<string | undefined> {
  const result = await runPostfixTool(postfixTools.postmap, [...configDirArgs(confDir), "-q", key, map]);
  if (result.exitCode === 1 && result.stderr.trim() === "") return undefined;
  if (result.failed) throw new UserError(toolFailure(`postmap -q ${key} ${map}`, result));
  return result.stdout;
}
