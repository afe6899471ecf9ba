import { closeSync, existsSync, writeSync } from "node:fs";
import { ignoreBrokenPipes, openPipe } from "../libc.ts";
import { join } from "node:path";
import { UserError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { expectTableKeys } from "./keys.ts";
import { logToolWarnings, summarizeToolOutput, toolFailure, toolRun, type ToolRun } from "./output.ts";
import type { Subprocess } from "bun";
import { hasDefaultMainCf, programPath, runChecked, runTool, type PostfixTools } from "./tools.ts";

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
  whileRunning?: () => void,
): Promise<void> {
  const configArgs = mapToolConfigArgs(tools, confDir);
  const run = await runTool(tools, "postmap", [...configArgs, "-F", `hash:${mapFile}`], { signal, whileRunning });
  if (run.failed) throw new UserError(toolFailure("postmap -F", run));
  // "postmap: warning: FILE, line N: open PATH: ...: skipping this entry" and its kin.
  const aboutEntries = run.messages.all.filter((line) => line.includes(`${mapFile}, line `) || line.includes("skipping this entry"));
  if (aboutEntries.length > 0)
    throw new UserError(`postmap -F could not embed every entry: ${summarizeToolOutput(aboutEntries.join("\n"))}`);
  await expectTableKeys(tools, mapFile, configArgs, expectedKeys, "postmap -F built");
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
  whileRunning?: () => void,
): Promise<void> {
  const configArgs = mapToolConfigArgs(tools, confDir);
  const steps: [string, string[], string][] = [];
  if (remove.length > 0) steps.push(["postmap -d", ["-d", "-"], remove.map((key) => `${key}\n`).join("")]);
  if (upsert.length > 0) steps.push(["postmap -r -i", ["-r", "-i"], upsert]);
  for (const [index, [what, flags, input]] of steps.entries()) {
    // The overlapping work goes beside the last step, the longest (the names written).
    const beside = index === steps.length - 1 ? whileRunning : undefined;
    checkFedRun(what, await runTool(tools, "postmap", [...configArgs, ...flags, `hash:${mapFile}`], { input, whileRunning: beside }), log);
  }
}

/**
 * A postmap that read its entries on stdin took every one: it exited 0 and said nothing about
 * a line ("stdin, line N: ...", "duplicate entry"), which it skips with exit 0. Then its
 * configuration warnings are logged; else a UserError in its words.
 */
function checkFedRun(what: string, run: ToolRun, log: Logger | undefined): void {
  if (run.failed) throw new UserError(toolFailure(what, run));
  const aboutEntries = run.messages.all.filter((line) => /\bstdin, line \d+:|duplicate entry/.test(line));
  if (aboutEntries.length > 0) throw new UserError(`${what} did not take every entry: ${summarizeToolOutput(aboutEntries.join("\n"))}`);
  logToolWarnings(run, log);
}

/**
 * The values hash:MAP_FILE holds for KEYS, as stored (`postmap -q -`: one run for all of them);
 * a key it does not hold is absent from the result.
 */
export async function postmapValues(
  tools: PostfixTools,
  mapFile: string,
  confDir: string,
  keys: readonly string[],
): Promise<Map<string, string>> {
  const values = new Map<string, string>();
  if (keys.length === 0) return values;
  const run = await runTool(tools, "postmap", [...mapToolConfigArgs(tools, confDir), "-q", "-", `hash:${mapFile}`], {
    input: keys.map((key) => `${key}\n`).join(""),
  });
  // Exit 1 also when none of the keys is there: the callers ask for keys the table holds.
  if (run.failed) throw new UserError(toolFailure("postmap -q", run));
  for (const line of run.stdout.split("\n")) {
    const tab = line.indexOf("\t");
    if (tab > 0) values.set(line.slice(0, tab), line.slice(tab + 1));
  }
  return values;
}

/** `postmap -r -i` on hash:MAP_FILE, fed while it runs (startPostmapFeed). */
export interface PostmapFeed {
  /** Hand postmap more "KEY VALUE" lines (waits only while postmap is a pipe's size behind). */
  write(lines: Uint8Array): void;
  /**
   * No more lines: wait for postmap, calling WHILE_RUNNING meanwhile. Throws a UserError when it
   * failed or warned about a line, as postmapUpdate does.
   */
  end(log?: Logger, whileRunning?: () => void): Promise<void>;
  /** Stop postmap without a result (idempotent); resolves once it has ended. */
  kill(): Promise<void>;
}

/** What the pipe to postmap holds: enough for a batch of lines, so a write rarely waits for postmap. */
const FEED_PIPE_BYTES = 1 << 20;

/**
 * Start `postmap -r -i hash:MAP_FILE` (the .db created if it does not exist) reading from a pipe
 * of ours, so a table can be built while its lines are still being made. A line is stored as
 * it is given (no -F); -r lets a later line for a key replace an earlier one. Writes go
 * straight into the pipe (1 MiB; a write waits only while postmap is that far behind), so
 * postmap works while this thread does other work, with no event loop turn needed.
 */
export async function startPostmapFeed(tools: PostfixTools, mapFile: string, confDir: string): Promise<PostmapFeed> {
  const program = programPath(tools, "postmap");
  // A postmap that ends early must cost an EPIPE (then its own words, at end()), not this process.
  ignoreBrokenPipes();
  const [readEnd, writeEnd] = openPipe(FEED_PIPE_BYTES);
  let child: Subprocess<number, "ignore", "pipe">;
  try {
    // Bun.spawn rather than execa: postmap's stdin is the read end of our own pipe.
    child = Bun.spawn([program, ...mapToolConfigArgs(tools, confDir), "-r", "-i", `hash:${mapFile}`], {
      stdin: readEnd,
      stdout: "ignore",
      stderr: "pipe",
      env: tools.env,
    });
  } catch (error) {
    closeSync(writeEnd);
    throw new UserError(`cannot run ${program}: ${(error as Error).message}; install Postfix or put ${program} on PATH`, 1, {
      cause: error,
    });
  } finally {
    closeSync(readEnd);
  }
  const stderr = new Response(child.stderr).text();
  let open = true;
  const close = () => {
    if (!open) return;
    open = false;
    closeSync(writeEnd);
  };
  return {
    write(lines) {
      if (!open || lines.length === 0) return;
      try {
        for (let written = 0; written < lines.length; ) written += writeSync(writeEnd, lines, written, lines.length - written);
      } catch {
        close(); // postmap is gone (EPIPE): its exit status and words tell why, at end()
      }
    },
    async end(log, whileRunning) {
      close();
      try {
        whileRunning?.();
      } finally {
        await child.exited; // never left running unwaited
      }
      const run = toolRun({
        exitCode: child.exitCode ?? undefined,
        failed: child.exitCode !== 0,
        stdout: "",
        stderr: await stderr,
        shortMessage: child.signalCode ? `killed by ${child.signalCode}` : undefined,
      });
      checkFedRun("postmap -r -i", run, log);
    },
    async kill() {
      close();
      child.kill();
      await child.exited;
    },
  };
}

/**
 * Build FILE.db from an aliases file. `postalias` on the explicit file (rather than
 * `newaliases`, which follows alias_database in some main.cf) so the path can be overridden.
 * Exit status decides; configuration warnings are logged.
 */
export async function postaliasBuild(tools: PostfixTools, aliasesFile: string, confDir: string, log?: Logger): Promise<void> {
  await runChecked(tools, `postalias hash:${aliasesFile}`, "postalias", [...mapToolConfigArgs(tools, confDir), `hash:${aliasesFile}`], log);
}
