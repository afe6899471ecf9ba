import { existsSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { tableKeysDiffer } from "./keys.ts";
import { logToolWarnings, summarizeToolOutput, toolFailure } from "./output.ts";
import { hasDefaultMainCf, runChecked, runTool, type PostfixTools } from "./tools.ts";

// Building indexed tables: postmap -F for sni.map, postalias for the aliases.

/**
 * Config directory arguments for postmap and postalias. mailcow's script runs both without -c,
 * i.e. with the image's /etc/postfix (Debian's stock main.cf): they need nothing from mailcow's
 * main.cf (the table type is always named), and the default config carries none of the admin's
 * overrides, so they print no configuration warnings. Only where there is no default main.cf
 * (a bare Postfix install; postmap is fatal then) the mailcow conf dir is used instead.
 */
export function mapToolConfigArgs(tools: PostfixTools, confDir: string): string[] {
  if (hasDefaultMainCf(tools)) return [];
  return existsSync(join(confDir, "main.cf")) ? ["-c", confDir] : [];
}

/**
 * `postmap -F hash:FILE`: build FILE.db with the files named in FILE embedded. postmap exits 0
 * even when it skips an entry whose file it cannot read, so the build counts as good only when
 * postmap said nothing about FILE's own lines and the .db holds exactly `expectedKeys`.
 */
export async function postmapEmbedFiles(
  tools: PostfixTools,
  mapFile: string,
  confDir: string,
  expectedKeys: readonly string[],
  log?: Logger,
  signal?: AbortSignal,
): Promise<void> {
  const configArgs = mapToolConfigArgs(tools, confDir);
  const run = await runTool(tools, "postmap", [...configArgs, "-F", `hash:${mapFile}`], { signal });
  if (run.failed) throw new UserError(toolFailure("postmap -F", run));
  // "postmap: warning: FILE, line N: open PATH: ...: skipping this entry" and its kin.
  const aboutEntries = run.messages.all.filter((line) => line.includes(`${mapFile}, line `) || line.includes("skipping this entry"));
  if (aboutEntries.length > 0)
    throw new UserError(`postmap -F could not embed every entry: ${summarizeToolOutput(aboutEntries.join("\n"))}`);
  const difference = await tableKeysDiffer(tools, mapFile, configArgs, expectedKeys);
  if (difference) throw new UserError(`postmap -F built a table that does not match the map: ${difference}`);
  logToolWarnings(run, log);
}

/**
 * Change hash:MAP_FILE's .db in place, as postmap does when told to: `postmap -d -` removes
 * `remove` (keys on stdin), then `postmap -r -i` adds or replaces the entries of `upsert`
 * ("KEY VALUE" lines on stdin; the values as they are to be stored, so no -F). A line postmap
 * warns about (a malformed line, a duplicate) counts as a failure, as in postmapEmbedFiles.
 */
export async function postmapUpdate(
  tools: PostfixTools,
  mapFile: string,
  confDir: string,
  remove: readonly string[],
  upsert: string,
  log?: Logger,
): Promise<void> {
  const configArgs = mapToolConfigArgs(tools, confDir);
  const steps: [string, string[], string][] = [];
  if (remove.length > 0) steps.push(["postmap -d", ["-d", "-"], remove.map((key) => `${key}\n`).join("")]);
  if (upsert.length > 0) steps.push(["postmap -r -i", ["-r", "-i"], upsert]);
  for (const [what, flags, input] of steps) {
    const run = await runTool(tools, "postmap", [...configArgs, ...flags, `hash:${mapFile}`], { input });
    if (run.failed) throw new UserError(toolFailure(what, run));
    const aboutEntries = run.messages.all.filter((line) => /\bstdin, line \d+:|duplicate entry/.test(line));
    if (aboutEntries.length > 0) throw new UserError(`${what} did not take every entry: ${summarizeToolOutput(aboutEntries.join("\n"))}`);
    logToolWarnings(run, log);
  }
}

/**
 * Build FILE.db from an aliases file. `postalias` on the explicit file (rather than
 * `newaliases`, which follows alias_database in some main.cf) so the path can be overridden.
 * Exit status decides; configuration warnings are logged.
 */
export async function postaliasBuild(tools: PostfixTools, aliasesFile: string, confDir: string, log?: Logger): Promise<void> {
  await runChecked(tools, `postalias hash:${aliasesFile}`, "postalias", [...mapToolConfigArgs(tools, confDir), `hash:${aliasesFile}`], log);
}
