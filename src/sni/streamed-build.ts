import { chmodSync } from "node:fs";
import { join } from "node:path";
import { tempPathFor } from "../atomic-write.ts";
import { UserError } from "../errors.ts";
import type { Logger } from "../log.ts";
import {
  expectTableKeys,
  mapToolConfigArgs,
  postmapUpdate,
  postmapValues,
  startPostmapFeed,
  type PostfixTools,
  type PostmapFeed,
} from "../postfix/index.ts";
import { embeddedBytes } from "./embedded.ts";
import { createPrivateCopyDir, removeDeadCopies, type PrivateCopyDir } from "./private-copy.ts";
import { directoryNames } from "./source-names.ts";
import type { MapEntry, ValidatedSource } from "./types.ts";
import type { Validation } from "./validate-parallel.ts";
import { installTable, SNI_MAP_FILE, wrapWriteError } from "./write.ts";

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

/** A map line: a name and its value as stored (base64). */
type MapLine = [name: string, value: string];

/** The buffer map lines are laid out in for postmap, made larger when a batch needs more. */
const SCRATCH_BYTES = 1 << 20;

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
  /** The map lines giving NAMES the value BYTES (base64, as postmap -F stores it), as [name, value], now written. */
  const linesFor = (names: readonly string[], bytes: Uint8Array, digest: string): MapLine[] => {
    const value = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
    for (const name of names) written.set(name, digest);
    return names.map((name) => [name, value]);
  };
  // One buffer, reused from batch to batch (a batch of lines is ~0.3 MB, a whole first start's
  // ~40 MB: strings and buffers made anew for each batch raised the peak memory by ~15 MiB).
  let scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
  const write = (lines: readonly MapLine[]) => {
    let size = 0;
    for (const [name, value] of lines) size += name.length + value.length + 2;
    if (scratch.length < size) scratch = Buffer.allocUnsafe(size);
    let end = 0;
    // Names are ASCII (normalized A-labels) and values base64: one byte a character.
    for (const [name, value] of lines) {
      end += scratch.write(name, end, "latin1");
      scratch[end++] = 0x20;
      end += scratch.write(value, end, "latin1");
      scratch[end++] = 0x0a;
    }
    feed.write(scratch.subarray(0, end));
  };
  const abort = async () => {
    if (!open) return;
    open = false;
    await feed.kill();
    buildDir.remove();
  };
  return {
    add(validations) {
      const lines: MapLine[] = [];
      for (const { validated } of validations) {
        // Only a usable source has a value; the default pair lists no names of its own.
        const bytes = validated.value?.bytes;
        if (bytes !== undefined) lines.push(...linesFor(provisionalNames(validated), bytes, validated.value!.digest));
      }
      write(lines);
    },
    async finish(content, entries, whileBuilding) {
      if (!open) throw new UserError("the table built while judging was stopped");
      try {
        const unplanned = new Set(written.keys());
        /** Names written after the plan (a value other than the one last written, or none yet), with the value each must hold (base64). */
        const corrected = new Map<string, string>();
        for (const entry of entries) {
          unplanned.delete(entry.name);
          if (written.get(entry.name) !== entry.value.digest)
            corrected.set(...linesFor([entry.name], embeddedBytes(entry), entry.value.digest)[0]!);
        }
        write([...corrected]);
        await feed.end(log, whileBuilding);
        await postmapUpdate(tools, building, confDir, [...unplanned], "", log); // nothing to do when none is left
        const names = entries.map((entry) => entry.name);
        await expectTableKeys(tools, building, mapToolConfigArgs(tools, confDir), names, "postmap built");
        // Each of those must hold its planned value: the key check sees only names, and a name written before holds its earlier value if the later line was lost.
        const stored = await postmapValues(tools, building, confDir, [...corrected.keys()]);
        const stale = [...corrected].filter(([name, value]) => stored.get(name) !== value).map(([name]) => name);
        if (stale.length > 0)
          throw new UserError(
            `postmap left ${stale.length} of the ${corrected.size} names written after the plan without their planned value (${stale.slice(0, 3).join(", ")})`,
          );
        installTable(`${building}.db`, mapFile, content);
      } catch (error) {
        throw wrapWriteError(error, mapFile);
      } finally {
        await abort();
      }
    },
    abort,
  };
}

/** The names a source would be mapped under if no other source listed them (the default pair has no domains file: none). */
function provisionalNames(validated: ValidatedSource): string[] {
  // Its problems are the plan's to report.
  return directoryNames(validated, []);
}
