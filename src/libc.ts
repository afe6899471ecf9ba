import { dlopen, FFIType } from "bun:ffi";

// The libc calls Node's fs and process lack, through bun:ffi, in one place: flock(2) for the
// conf dir's writer lock and the master.pid test, memfd_create(2) and fchmod(2) for the MariaDB
// option file, prctl(2) to adopt what hooks leave behind, the process-group calls made
// before exec, pipe2(2) and fcntl(2) for a pipe of our own size to feed postmap, and signal(2)
// to keep SIGPIPE ignored. Opened on first use and kept for the life of the process (one dlopen of all
// the symbols costs about what one of a single symbol does: docs/performance.md).

export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;
export const MFD_CLOEXEC = 1;
export const PR_SET_CHILD_SUBREAPER = 36;
/** O_CLOEXEC on Linux (x86-64 and arm64 alike). */
export const O_CLOEXEC = 0o2000000;
export const F_SETPIPE_SZ = 1031;
const SIGPIPE = 13;
const SIG_IGN = 1;

const SYMBOLS = {
  flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  memfd_create: { args: [FFIType.cstring, FFIType.u32], returns: FFIType.i32 },
  fchmod: { args: [FFIType.i32, FFIType.u32], returns: FFIType.i32 },
  prctl: { args: [FFIType.i32, FFIType.u64, FFIType.u64, FFIType.u64, FFIType.u64], returns: FFIType.i32 },
  getpgid: { args: [FFIType.i32], returns: FFIType.i32 },
  getsid: { args: [FFIType.i32], returns: FFIType.i32 },
  getppid: { args: [], returns: FFIType.i32 },
  setpgid: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  pipe2: { args: [FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  fcntl: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  // The handler as an integer: SIG_IGN is (void (*)(int)) 1.
  signal: { args: [FFIType.i32, FFIType.u64], returns: FFIType.u64 },
} as const;

let opened: ReturnType<typeof dlopen<typeof SYMBOLS>> | undefined;

/** libc's functions; throws where libc.so.6 cannot be loaded (callers with a fallback catch it). */
export function libc(): ReturnType<typeof dlopen<typeof SYMBOLS>>["symbols"] {
  opened ??= dlopen("libc.so.6", SYMBOLS);
  return opened.symbols;
}

/**
 * A new pipe, both ends close-on-exec, holding up to BYTES (F_SETPIPE_SZ; the kernel's default
 * 64 KiB where that is refused): [read end, write end]. Throws when no pipe can be made.
 */
export function openPipe(bytes: number): [read: number, write: number] {
  const fds = new Int32Array(2);
  if (libc().pipe2(fds, O_CLOEXEC) !== 0) throw new Error("pipe2 failed");
  libc().fcntl(fds[1]!, F_SETPIPE_SZ, bytes);
  return [fds[0]!, fds[1]!];
}

/**
 * Ignore SIGPIPE, so that a write to a pipe nobody reads any more fails with EPIPE instead of
 * ending the process. Bun starts that way, but removing the last `process.on("SIGPIPE")`
 * listener sets SIGPIPE back to its default (measured: /proc/self/status SigIgn), and the next
 * such write then ends the process (exit 141).
 */
export function ignoreBrokenPipes(): void {
  try {
    libc().signal(SIGPIPE, SIG_IGN);
  } catch {
    // no libc.so.6 to call: the runtime's own disposition stays
  }
}
