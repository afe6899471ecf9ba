import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { errnoCode, errnoText } from "./errors.ts";

// Every file read from the certificate tree or the conf dir comes through here. Admins (and
// attackers with write access to the volume) can put anything there: a FIFO blocks a plain
// read forever, /dev/zero never ends, a certificate followed by 200 MB of junk eats memory.
// So: open without blocking, insist on a regular file, and read at most a fixed size.

/** Far above real files: a chain of a dozen certificates is ~25 KB, a private key ~3 KB. */
export const MAX_PEM_BYTES = 1024 * 1024;
/** mailcow's domains file: a few hundred bytes; 1 MB is ~40,000 names. */
export const MAX_DOMAINS_BYTES = 1024 * 1024;
/** main.cf, extra.cf, the SQL maps, the validation cache: a few KB to a few MB. */
export const MAX_CONF_BYTES = 16 * 1024 * 1024;

/** Why a file was refused: `code` is an errno name, or ENOTREG / EFBIG for our own checks. */
export class BoundedReadError extends Error {
  override name = "BoundedReadError";
  constructor(
    readonly code: string,
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

/** Short reason for a log line: "a FIFO, not a regular file", "larger than 1 MB", or the errno name. */
export function describeReadFailure(error: unknown): string {
  if (error instanceof BoundedReadError) return error.code === "ENOTREG" || error.code === "EFBIG" ? error.message : error.code;
  return errnoText(error);
}

/**
 * The file's text, at most `maxBytes`. Throws BoundedReadError: ENOTREG for anything but a
 * regular file (FIFO, socket, device, directory), EFBIG when larger than the cap, else the
 * open/read errno (ENOENT, EACCES, ELOOP, ...). Never blocks, never reads past the cap.
 */
export function readBoundedText(path: string, maxBytes: number): string {
  return readBoundedBytes(path, maxBytes).toString("utf8");
}

/** The file's bytes, at most `maxBytes`, with readBoundedText's checks and errors. */
export function readBoundedBytes(path: string, maxBytes: number): Buffer {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (error) {
    const code = errnoCode(error) ?? "EIO";
    // open(2) of a unix socket fails with ENXIO.
    if (code === "ENXIO") throw new BoundedReadError("ENOTREG", path, "a socket, not a regular file");
    throw new BoundedReadError(code, path, code);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new BoundedReadError("ENOTREG", path, `${fileKind(stat)}, not a regular file`);
    if (stat.size > maxBytes) throw new BoundedReadError("EFBIG", path, `larger than ${sizeText(maxBytes)} (${sizeText(stat.size)})`);
    // st_size can lie (/proc files say 0, a file may grow while read): read to EOF, but one
    // byte past the cap at most. Room for st_size + 1 bytes: a regular file's read that comes
    // back short has reached its end, so the usual file takes one read and one copy.
    let buffer = Buffer.allocUnsafe(Math.min(maxBytes + 1, stat.size > 0 ? stat.size + 1 : 64 * 1024));
    let total = 0;
    for (;;) {
      if (total === buffer.length) {
        const grown = Buffer.allocUnsafe(Math.min(maxBytes + 1, buffer.length * 2));
        buffer.copy(grown, 0, 0, total);
        buffer = grown;
      }
      const room = buffer.length - total;
      let read: number;
      try {
        read = readSync(fd, buffer, total, room, null);
      } catch (error) {
        const code = errnoCode(error) ?? "EIO";
        throw new BoundedReadError(code, path, code);
      }
      total += read;
      if (total > maxBytes) throw new BoundedReadError("EFBIG", path, `larger than ${sizeText(maxBytes)}`);
      if (read === 0 || (stat.size > 0 && read < room)) break;
    }
    // Copied only when most of the buffer is unused (a file that shrank, or st_size 0).
    return total + 1 >= buffer.length ? buffer.subarray(0, total) : Buffer.from(buffer.subarray(0, total));
  } finally {
    closeSync(fd);
  }
}

/** Like readBoundedText, but undefined when the file does not exist. */
export function readBoundedTextIfExists(path: string, maxBytes: number): string | undefined {
  try {
    return readBoundedText(path, maxBytes);
  } catch (error) {
    if (error instanceof BoundedReadError && error.code === "ENOENT") return undefined;
    throw error;
  }
}

function fileKind(stat: {
  isFIFO(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
  isSocket(): boolean;
  isDirectory(): boolean;
}): string {
  if (stat.isFIFO()) return "a FIFO";
  if (stat.isCharacterDevice()) return "a character device";
  if (stat.isBlockDevice()) return "a block device";
  if (stat.isSocket()) return "a socket";
  if (stat.isDirectory()) return "a directory";
  return "a special file";
}

function sizeText(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${Math.round((bytes / (1024 * 1024)) * 10) / 10} MB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${bytes} bytes`;
}
