import { fstatSync, statSync, type Stats } from "node:fs";

// A file's identity: device, inode, size, mtime and ctime. Any write, rename over it, chmod or
// chown changes at least one of them (ctime cannot be set back by a user), so an equal identity
// means the same bytes and metadata as when it was taken.

/**
 * Milliseconds as floats keep sub-microsecond digits, and a plain stat costs about half of a
 * bigint one (4,000 files per start).
 */
export function statIdentity(stat: Stats): string {
  return `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}`;
}

/** The mtime (ms) an identity carries: when the file's data last changed. */
export function identityMtimeMs(identity: string): number {
  return Number(identity.split(":")[3]);
}

/** The later of an identity's mtime and ctime (ms): when the file's data or metadata last changed. */
export function identityChangedMs(identity: string): number {
  const fields = identity.split(":");
  return Math.max(Number(fields[3]), Number(fields[4]));
}

/**
 * The running program: its path and identity (the compiled binary; bun when run from source).
 * Another build may judge otherwise (new rules, another OpenSSL in another image), so what was
 * judged or recorded by one program is not trusted by another.
 */
export function programIdentity(): string {
  return `${process.execPath}:${fileIdentity(process.execPath)}`;
}

/** The identity of PATH (symlinks followed), or "" when it cannot be stat'ed. */
export function fileIdentity(path: string): string {
  try {
    return statIdentity(statSync(path));
  } catch {
    return "";
  }
}

/** The identity of the file open as FD: the very file read through it, whatever its path names by now. */
export function openFileIdentity(fd: number): string {
  return statIdentity(fstatSync(fd));
}
