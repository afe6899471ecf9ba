import { cc } from "bun:ffi";
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";

// OpenSSL allocates through glibc's malloc (Bun's own heap is another allocator), so what
// malloc has handed out and not got back is what OpenSSL objects a test left unfreed hold.
// mallinfo2 returns a struct, which bun:ffi cannot take by value: a line of C (TinyCC, built
// into Bun) returns the one number.

let compiled: (() => bigint) | undefined;

/** Bytes glibc's malloc has handed out and not had back, over every arena. */
export function mallocInUse(): number {
  compiled ??= compile();
  return Number(compiled());
}

/**
 * TinyCC's headers are unpacked into bun-cc-UID in the temp dir Bun saw at its start (not the
 * test run's TMPDIR, set later): a directory this compile made there is removed after it.
 */
function compile(): () => bigint {
  const caches = [...new Set(["/tmp", "/var/tmp", process.env.TMPDIR ?? "/tmp"])].map((dir) =>
    join(dir, `bun-cc-${process.getuid?.() ?? 0}`),
  );
  const made = caches.filter((dir) => !existsSync(dir));
  try {
    return cc({
      source: join(import.meta.dir, "malloc-in-use.c"),
      symbols: { malloc_in_use: { returns: "u64", args: [] } },
    }).symbols.malloc_in_use as () => bigint;
  } finally {
    for (const dir of made) rmSync(dir, { recursive: true, force: true });
  }
}
