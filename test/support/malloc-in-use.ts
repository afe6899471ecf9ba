import { cc } from "bun:ffi";
import { join } from "node:path";

// OpenSSL allocates through glibc's malloc (Bun's own heap is another allocator), so what
// malloc has handed out and not got back is what OpenSSL objects a test left unfreed hold.
// mallinfo2 returns a struct, which bun:ffi cannot take by value: a line of C (TinyCC, built
// into Bun) returns the one number.

let compiled: (() => bigint) | undefined;

/** Bytes glibc's malloc has handed out and not had back, over every arena. */
export function mallocInUse(): number {
  compiled ??= cc({
    source: join(import.meta.dir, "malloc-in-use.c"),
    symbols: { malloc_in_use: { returns: "u64", args: [] } },
  }).symbols.malloc_in_use as () => bigint;
  return Number(compiled());
}
