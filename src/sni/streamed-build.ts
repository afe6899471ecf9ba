import { chmodSync, renameSync } from "node:fs";
import { join } from "node:path";
import { tempPathFor, writeFileAtomic } from "../atomic-write.ts";
import { UserError } from "../errors.ts";
import type { Logger } from "../log.ts";
import {
  mapToolConfigArgs,
  postmapUpdate,
  startPostmapFeed,
  tableKeysDiffer,
  type PostfixTools,
  type PostmapFeed,
} from "../postfix/index.ts";
import { embeddedBytes } from "./embedded.ts";
import { createPrivateCopyDir, removeDeadCopies, type PrivateCopyDir } from "./private-copy.ts";
import { directoryNames } from "./source-names.ts";
import type { MapEntry, ValidatedSource } from "./types.ts";
import type { Validation } from "./validate-parallel.ts";
import { SNI_MAP_FILE, SNI_MAP_MODE, wrapWriteError } from "./write.ts";

// A first start (no record of the last build) builds the whole table, and postmap's part of
// that (~0.25 s at 10,000 names) need not wait until every pair is judged: the table is built
// while the pairs are judged. `postmap -r -i` is started on a new table in a 0700 directory of
// its own before validation, and each usable directory's names go to it, with the bytes just
// judged, as soon as its batch is done: provisionally, as if no other directory listed them.
// Once the plan is made, every planned name whose value differs from the last one written for
// it is written again (-r: the last line for a key wins), names written but not planned are
// removed (postmap -d), the table's keys are checked, and only then is it renamed over
// sni.map.db. So the table is the plan's whatever was written provisionally; the values are
// the judged bytes as in a full build (write.ts), and nothing but the .db ever holds them.

/** Bytes of map lines handed to postmap at a time (a batch's lines, about). */
const LINE_BUFFER_BYTES = 1 << 20;

export interface StreamedBuild {
  /** Hand postmap the provisional lines of VALIDATIONS (usable directories whose bytes were read). */
  add(validations: readonly Validation[]): void;
  /**
   * Make the table hold exactly ENTRIES and put it and CONTENT (sni.map) in place, calling
   * WHILE_BUILDING while postmap ends its work. Throws as writeSniMapFiles does; the files in
   * place are then unchanged.
   */
  finish(content: string, entries: readonly MapEntry[], whileBuilding?: () => void): Promise<void>;
  /** Stop postmap and remove the table being built (idempotent; nothing to do after finish). */
  abort(): Promise<void>;
}

/** A build started in CONF_DIR, or undefined when it cannot start there (the full build then says why). */
export async function startStreamedBuild(tools: PostfixTools, confDir: string, log: Logger): Promise<StreamedBuild | undefined> {
  // What a killed build from scratch left in shared memory goes first, as that build's next run would remove it.
  removeDeadCopies();
  const mapFile = join(confDir, SNI_MAP_FILE);
  const tempMap = tempPathFor(mapFile);
  // postmap creates the .db with the umask's mode: nobody else may reach it meanwhile. The
  // directory is removed on every way out, SIGTERM, SIGINT and SIGHUP included (private-copy.ts).
  let dir: PrivateCopyDir | undefined;
  let feed: PostmapFeed;
  try {
    dir = createPrivateCopyDir(`${tempMap}.d`, undefined);
    chmodSync(dir.dir, 0o700);
    feed = await startPostmapFeed(tools, join(dir.dir, SNI_MAP_FILE), confDir);
  } catch {
    dir?.remove();
    return undefined;
  }
  const building = join(dir.dir, SNI_MAP_FILE);
  const buildDir = dir;
  /** Name -> digest of the value last written for it. */
  const written = new Map<string, string>();
  let open = true;
  // Lines are laid out in one reused buffer and handed over a batch at a time.
  let lines = Buffer.allocUnsafe(LINE_BUFFER_BYTES);
  let used = 0;
  const flush = () => {
    if (used > 0) feed.write(lines.subarray(0, used));
    used = 0;
  };
  const write = (names: readonly string[], bytes: Uint8Array, digest: string) => {
    if (names.length === 0) return;
    const value = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
    for (const name of names) {
      // Names are ASCII (normalized A-labels), the value base64: one byte a character.
      const length = name.length + value.length + 2;
      if (used + length > lines.length) {
        flush();
        if (length > lines.length) lines = Buffer.allocUnsafe(2 * length);
      }
      used += lines.write(name, used, "latin1");
      lines[used++] = 0x20;
      used += lines.write(value, used, "latin1");
      lines[used++] = 0x0a;
      written.set(name, digest);
    }
  };
  const abort = async () => {
    if (!open) return;
    open = false;
    await feed.kill();
    buildDir.remove();
  };
  return {
    add(validations) {
      if (!open) return;
      for (const { validated } of validations) {
        const bytes = validated.value?.bytes;
        if (validated.source.kind !== "directory" || !validated.usable || bytes === undefined) continue;
        write(provisionalNames(validated), bytes, validated.value!.digest);
      }
      flush();
    },
    async finish(content, entries, whileBuilding) {
      if (!open) throw new UserError("the table built while judging was stopped");
      try {
        const unplanned = new Set(written.keys());
        for (const entry of entries) {
          unplanned.delete(entry.name);
          if (written.get(entry.name) !== entry.value.digest) write([entry.name], embeddedBytes(entry), entry.value.digest);
        }
        flush();
        await feed.end(log, whileBuilding);
        if (unplanned.size > 0) await postmapUpdate(tools, building, confDir, [...unplanned], "", log);
        const difference = await tableKeysDiffer(
          tools,
          building,
          mapToolConfigArgs(tools, confDir),
          entries.map((entry) => entry.name),
        );
        if (difference) throw new UserError(`postmap built a table that does not match the map: ${difference}`);
        // The .db first: it is what smtpd reads (as write.ts's installTable).
        chmodSync(`${building}.db`, SNI_MAP_MODE);
        renameSync(`${building}.db`, `${mapFile}.db`);
        writeFileAtomic(mapFile, content, { mode: SNI_MAP_MODE, durable: false });
      } catch (error) {
        throw wrapWriteError(error, mapFile);
      } finally {
        await abort();
      }
    },
    abort,
  };
}

/** The names a directory would be mapped under if no other directory listed them. */
function provisionalNames(validated: ValidatedSource): string[] {
  // Its problems are the plan's to report.
  return directoryNames(validated, []);
}
