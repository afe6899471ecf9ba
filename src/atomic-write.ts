import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync, chmodSync, chownSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { randomBytes } from "node:crypto";

// Config files are replaced, never edited in place: an interrupted or failed run must leave
// the previous working file where Postfix expects it.

export interface AtomicWriteOptions {
  /** File mode of the result; the temp file is created with it so nothing is ever wider. */
  mode?: number;
  uid?: number;
  gid?: number;
  /** false: skip the fsyncs, for files whose loss after a crash costs nothing (caches). */
  durable?: boolean;
}

/** A temp path in the same directory (rename is only atomic within one filesystem). */
export function tempPathFor(path: string, suffix = ""): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp${suffix}`);
}

/**
 * Create `path` (which must not exist yet) holding `content`, with exactly `mode` and owner from
 * the start, so nothing is ever readable more widely, not even while it is being written.
 */
export function writeNewFile(path: string, content: string | Uint8Array, options: AtomicWriteOptions = {}): void {
  const mode = options.mode ?? 0o644;
  const fd = openSync(path, "wx", mode);
  try {
    const buffer = typeof content === "string" ? Buffer.from(content) : content;
    let offset = 0;
    while (offset < buffer.length) offset += writeSync(fd, buffer, offset, buffer.length - offset);
    if (options.durable !== false) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  // openSync's mode is filtered by the umask; set it exactly.
  chmodSync(path, mode);
  if (options.uid !== undefined || options.gid !== undefined) {
    chownSync(path, options.uid ?? -1, options.gid ?? -1);
  }
}

/** Write `content` to `path` via temp file + fsync + rename; the temp file is removed on failure. */
export function writeFileAtomic(path: string, content: string | Uint8Array, options: AtomicWriteOptions = {}): void {
  const temp = tempPathFor(path);
  try {
    writeNewFile(temp, content, options);
    renameSync(temp, path);
    if (options.durable !== false) fsyncDirectory(dirname(path));
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}

/** Make a completed rename durable; some filesystems refuse fsync on directories, which is fine. */
export function fsyncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch {
    // Durability best effort only: the rename itself already happened atomically.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
