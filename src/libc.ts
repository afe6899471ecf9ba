import { dlopen, FFIType } from "bun:ffi";

// The libc calls Node's fs and process lack, through bun:ffi, in one place: flock(2) for the
// conf dir's writer lock and the master.pid test, memfd_create(2) and fchmod(2) for the MariaDB
// option file, prctl(2) to adopt what hooks leave behind, and the process-group calls made
// before exec. Opened on first use and kept for the life of the process (one dlopen of all
// the symbols costs about what one of a single symbol does: docs/performance.md).

export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;
export const MFD_CLOEXEC = 1;
export const PR_SET_CHILD_SUBREAPER = 36;

const SYMBOLS = {
  flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  memfd_create: { args: [FFIType.cstring, FFIType.u32], returns: FFIType.i32 },
  fchmod: { args: [FFIType.i32, FFIType.u32], returns: FFIType.i32 },
  prctl: { args: [FFIType.i32, FFIType.u64, FFIType.u64, FFIType.u64, FFIType.u64], returns: FFIType.i32 },
  getpgid: { args: [FFIType.i32], returns: FFIType.i32 },
  getsid: { args: [FFIType.i32], returns: FFIType.i32 },
  getppid: { args: [], returns: FFIType.i32 },
  setpgid: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
} as const;

let opened: ReturnType<typeof dlopen<typeof SYMBOLS>> | undefined;

/** libc's functions; throws where libc.so.6 cannot be loaded (callers with a fallback catch it). */
export function libc(): ReturnType<typeof dlopen<typeof SYMBOLS>>["symbols"] {
  opened ??= dlopen("libc.so.6", SYMBOLS);
  return opened.symbols;
}
