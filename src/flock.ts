import { dlopen, FFIType } from "bun:ffi";

// flock(2), which Node's fs lacks: libc's, through bun:ffi (as exec-master.ts does for setpgid).
// Used for the conf dir's writer lock (conf-lock.ts) and to test master's lock on its pid file
// (master-pid.ts).

export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

export interface Libc {
  /** flock(fd, operation): 0 on success, -1 on failure (held elsewhere, or not supported). */
  flock(fd: number, operation: number): number;
  close(): void;
}

export function openLibcFlock(): Libc {
  const libc = dlopen("libc.so.6", { flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 } });
  return { flock: (fd, operation) => libc.symbols.flock(fd, operation), close: () => libc.close() };
}
