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
