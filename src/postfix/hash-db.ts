import { closeSync, openSync, readSync } from "node:fs";

// The keys of a `hash:` table as postmap writes it (Berkeley DB 4.6+ hash format, the one
// Debian's Postfix links), read straight from the .db. `postmap -s` gives the same keys but
// prints every value too, which with -F is every embedded file in base64 (costs in
// docs/performance.md). Here only the bucket pages are read: the embedded files sit on
// overflow pages that are never touched. Any page this reader does not recognize makes it
// answer undefined: callers then ask `postmap -s`, which stays the authority.

const HASH_MAGIC = 0x061561;
/** Hash versions with this page layout: 8 (BDB 4.4-4.5, unsorted pages) and 9 (4.6 to 18.1). */
const HASH_VERSIONS = new Set([8, 9]);
const P_HASH_UNSORTED = 2;
const P_HASHMETA = 8;
const P_HASH = 13;
const H_KEYDATA = 1;
const H_OFFPAGE = 3;
/** lsn(8) pgno(4) prev_pgno(4) next_pgno(4) entries(2) hf_offset(2) level(1) type(1). */
const PAGE_HEADER = 26;
const SPARES = 32;

/** Reads page `pgno` (pagesize bytes), or undefined when the file ends before it. */
export type PageReader = (pgno: number, pageSize: number) => Buffer | undefined;

/** The keys of the hash table in `path` (trailing NUL removed), or undefined when unsure. */
export function readHashDbKeys(path: string): string[] | undefined {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return undefined;
  }
  try {
    return hashDbKeys((pgno, pageSize) => {
      const page = Buffer.allocUnsafe(pageSize);
      const read = readSync(fd, page, 0, pageSize, pgno * pageSize);
      return read === pageSize ? page : undefined;
    });
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * Walk the buckets of a Berkeley DB hash file page by page: the meta page says how many
 * buckets there are and where each doubling of them starts (`spares`); each bucket is a chain
 * of hash pages holding key/data pairs. Pure given `readPage`; never throws for bad input.
 */
export function hashDbKeys(readPage: PageReader): string[] | undefined {
  const head = readPage(0, 512);
  if (!head) return undefined;
  const u32 = (offset: number) => head.readUInt32LE(offset);
  // Little-endian files only (the magic reads swapped otherwise), no checksums, no encryption.
  if (u32(12) !== HASH_MAGIC || !HASH_VERSIONS.has(u32(16)) || head[25] !== P_HASHMETA || head[24] !== 0 || head[26] !== 0)
    return undefined;
  const pageSize = u32(20);
  const lastPage = u32(32);
  const maxBucket = u32(72);
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0 || maxBucket > lastPage) return undefined;
  const spares = Array.from({ length: SPARES }, (_, index) => u32(96 + 4 * index));

  if (ceilLog2(maxBucket + 1) >= SPARES) return undefined;
  const keys: string[] = [];
  const seen = new Set<number>();
  for (let bucket = 0; bucket <= maxBucket; bucket++) {
    let pgno = bucket + spares[ceilLog2(bucket + 1)]!;
    while (pgno !== 0) {
      // A chain that loops or leaves the file is not a table this reader understands.
      if (pgno > lastPage || seen.has(pgno)) return undefined;
      seen.add(pgno);
      const page = readPage(pgno, pageSize);
      if (!page) return undefined;
      const next = pageKeys(page, pgno, keys);
      if (next === undefined) return undefined;
      pgno = next;
    }
  }
  return keys;
}

/** Append the keys on one hash page; the next page of the bucket (0: none), or undefined. */
function pageKeys(page: Buffer, pgno: number, keys: string[]): number | undefined {
  const type = page[25];
  const entries = page.readUInt16LE(20);
  if (page.readUInt32LE(8) !== pgno || (type !== P_HASH && type !== P_HASH_UNSORTED) || entries % 2 !== 0) return undefined;
  if (PAGE_HEADER + 2 * entries > page.length) return undefined;
  // Items are packed from the end of the page down, in index order: item i ends where item
  // i - 1 starts. Even items are keys, odd items their data.
  let end = page.length;
  for (let index = 0; index < entries; index++) {
    const offset = page.readUInt16LE(PAGE_HEADER + 2 * index);
    if (offset < PAGE_HEADER + 2 * entries || offset >= end) return undefined;
    const itemType = page[offset];
    if (index % 2 === 0) {
      if (itemType !== H_KEYDATA) return undefined;
      let keyEnd = end;
      if (keyEnd > offset + 1 && page[keyEnd - 1] === 0) keyEnd--; // postmap stores C strings
      // Invalid UTF-8 becomes U+FFFD, which no expected key holds: the caller then falls back.
      keys.push(page.toString("utf8", offset + 1, keyEnd));
    } else if (itemType !== H_KEYDATA && itemType !== H_OFFPAGE) {
      return undefined;
    }
    end = offset;
  }
  return page.readUInt32LE(16);
}

/** Berkeley DB's __db_log2: the smallest i with 2^i >= n. */
function ceilLog2(n: number): number {
  return n <= 1 ? 0 : 32 - Math.clz32(n - 1);
}
