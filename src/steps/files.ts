import { statSync, utimesSync } from "node:fs";
import { MAX_CONF_BYTES, describeReadFailure, readBoundedTextIfExists } from "../bounded-read.ts";
import { writeFileAtomic, type AtomicWriteOptions } from "../atomic-write.ts";
import { errnoText, UserError } from "../errors.ts";

// File helpers shared by the steps: every write is atomic, and a file whose bytes, mode and
// owner are already right is left alone, so a second start changes nothing on disk.

/** The file's text, or undefined when it does not exist; other failures are the admin's to fix. */
export function readTextIfExists(path: string): string | undefined {
  try {
    return readBoundedTextIfExists(path, MAX_CONF_BYTES);
  } catch (error) {
    throw new UserError(`cannot read ${path}: ${describeReadFailure(error)}`, 1, { cause: error });
  }
}

/**
 * Atomically write `content` unless the file already holds it with the wanted mode and owner.
 * `preserve`: keep an existing file's mode and owner (admin-owned files in the conf volume).
 * Returns whether the file was written.
 */
export function writeIfChanged(path: string, content: string, options: AtomicWriteOptions & { preserve?: boolean } = {}): boolean {
  let wanted: AtomicWriteOptions = { mode: options.mode ?? 0o644, uid: options.uid, gid: options.gid };
  let current: { text: string; mode: number; uid: number; gid: number } | undefined;
  const text = readTextIfExists(path);
  if (text !== undefined) {
    const stat = statSync(path);
    current = { text, mode: stat.mode & 0o7777, uid: stat.uid, gid: stat.gid };
    if (options.preserve) wanted = { mode: current.mode, uid: current.uid, gid: current.gid };
  }
  if (
    current &&
    current.text === content &&
    current.mode === wanted.mode &&
    (wanted.uid === undefined || current.uid === wanted.uid) &&
    (wanted.gid === undefined || current.gid === wanted.gid)
  ) {
    return false;
  }
  try {
    writeFileAtomic(path, content, wanted);
  } catch (error) {
    throw new UserError(`cannot write ${path}: ${errnoText(error)}`, 1, { cause: error });
  }
  return true;
}

/**
 * Postfix re-reads a main.cf modified within the last ~2 s until it is older (a guard against
 * half-edited files, 300 ms naps), which would add 2 s to every start that changed it. Ours are
 * replaced atomically and are complete, so their mtime is set 2 s back.
 */
export function settleMtime(path: string): void {
  const now = Date.now() / 1000;
  utimesSync(path, now, now - 2);
}
