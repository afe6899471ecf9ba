import { chmodSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { tempPathFor, writeFileAtomic, writeNewFile } from "../atomic-write.ts";
import { MAX_CONF_BYTES, readBoundedTextIfExists } from "../bounded-read.ts";
import { errnoCode, UserError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { postmapEmbedFiles, type PostfixTools } from "../postfix/index.ts";
import { createPrivateCopyDir, MEMORY_DIR, type PrivateCopyDir } from "./private-copy.ts";
import { embeddedBytes, isEmbeddedValueChanged } from "./embedded.ts";
import type { EmbeddedValue, MapEntry } from "./types.ts";

// sni.map.db embeds the private keys (postmap -F), and postmap gives the .db the mode of its
// source file: both are created 0600 from the start. The new table is built under a temp name
// and renamed over the old one only after postmap succeeded, so a failed or interrupted run
// leaves the previous sni.map + sni.map.db working. No fsync: postmap does not sync the .db
// either, and a start whose inputs or outputs differ from the recorded build rebuilds both
// files, so after a power loss the next start writes them again; the rename already keeps a
// killed run from leaving a half-written file in place.

export const SNI_MAP_FILE = "sni.map";
export const SNI_MAP_MODE = 0o600;

/**
 * Build sni.map.db from the judged bytes and put it and the map text in place. postmap -F
 * reads the files a map line names when it runs; a certificate renewed since it was judged
 * would put unjudged bytes into the table. So the table is built from a private copy: each
 * source's judged value (validate.ts) written to a file of its own in a 0700 directory, and a
 * private map text naming those files. What the .db embeds is therefore exactly what was
 * judged. sni.map itself keeps naming the real files, as an admin reads it.
 */
export async function writeSniMapFiles(
  tools: PostfixTools,
  confDir: string,
  content: string,
  entries: readonly MapEntry[],
  log?: Logger,
  whileBuilding?: () => void,
): Promise<void> {
  const mapFile = join(confDir, SNI_MAP_FILE);
  const tempMap = tempPathFor(mapFile);
  let snapshot: { copy: PrivateCopyDir; text: string } | undefined;
  try {
    snapshot = writeSnapshot(entries, `${tempMap}.d`, confDir);
    writePrivateFile(tempMap, snapshot.text, confDir);
    await postmapEmbedFiles(tools, tempMap, confDir, mapKeys(snapshot.text), log, undefined, whileBuilding);
    installTable(`${tempMap}.db`, mapFile, content);
    rmSync(tempMap);
  } catch (error) {
    removeTempPair(tempMap);
    throw wrapWriteError(error, mapFile);
  } finally {
    snapshot?.copy.remove();
  }
}

/**
 * One 0600 file per distinct value (the names of one source share it) in a new 0700 directory
 * (private-copy.ts: shared memory, else the conf dir); returns it and the private map text
 * naming the files.
 */
function writeSnapshot(entries: readonly MapEntry[], fallbackDir: string, confDir: string): { copy: PrivateCopyDir; text: string } {
  // Shared memory first; when it is absent or too small for this tree, the conf dir.
  return writeSnapshotAt(entries, fallbackDir, MEMORY_DIR, confDir) ?? writeSnapshotAt(entries, fallbackDir, undefined, confDir)!;
}

/** The snapshot in a copy made by createPrivateCopyDir; undefined when it was in shared memory and did not fit there. */
function writeSnapshotAt(
  entries: readonly MapEntry[],
  fallbackDir: string,
  memoryDir: string | undefined,
  confDir: string,
): { copy: PrivateCopyDir; text: string } | undefined {
  let copy: PrivateCopyDir | undefined;
  try {
    copy = createPrivateCopyDir(fallbackDir, memoryDir);
    return { copy, text: writeSnapshotIn(copy.dir, entries) };
  } catch (error) {
    copy?.remove();
    // A file that no longer holds the judged bytes is no reason to try the conf dir.
    if (isEmbeddedValueChanged(error)) throw error;
    if (copy !== undefined && copy.dir !== fallbackDir) return undefined;
    throw new UserError(
      `cannot create files in ${confDir}: ${describeFsError(error)}; the conf dir must exist and be writable (mailcow: data/conf/postfix -> /opt/postfix/conf)`,
      1,
      { cause: error },
    );
  }
}

function writeSnapshotIn(dir: string, entries: readonly MapEntry[]): string {
  chmodSync(dir, 0o700);
  const files = new Map<EmbeddedValue, string>();
  let text = "";
  for (const entry of entries) {
    let file = files.get(entry.value);
    if (file === undefined) {
      file = join(dir, String(files.size));
      // Created 0600 (the umask can only narrow it) in a 0700 directory; no fsync: the copy
      // lives only until postmap has read it.
      writeFileSync(file, embeddedBytes(entry), { flag: "wx", mode: 0o600 });
      files.set(entry.value, file);
    }
    text += `${entry.name} ${file}\n`;
  }
  return text;
}

/**
 * Put a table that was built and checked in place: BUILT_DB (0600) renamed over MAP_FILE.db,
 * then CONTENT over MAP_FILE: written anew, or, when TEXT_VOUCHED_FOR (the table record
 * vouched for the file in place: ours, 0600), only if it differs (after a renewal it rarely does).
 * Every build ends here: from scratch, while judging (streamed-build.ts), in place (table-update.ts).
 */
export function installTable(builtDb: string, mapFile: string, content: string, textVouchedFor = false): void {
  // The .db first: it is what smtpd reads. A crash between the two leaves a current .db
  // beside an old text file, which the next run rewrites.
  chmodSync(builtDb, SNI_MAP_MODE);
  renameSync(builtDb, `${mapFile}.db`);
  if (!textVouchedFor || readBoundedTextIfExists(mapFile, MAX_CONF_BYTES) !== content)
    writeFileAtomic(mapFile, content, { mode: SNI_MAP_MODE, durable: false });
}

/** The temp pair, its snapshot and Berkeley DB's own scratch file (`__db.NAME`), which stays behind when postmap dies of ENOSPC. */
export function removeTempPair(tempMap: string): void {
  removeQuietly([tempMap, `${tempMap}.db`, `${tempMap}.d`, join(dirname(tempMap), `__db.${basename(tempMap)}.db`)]);
}

/** Cleanup after a failure must not replace the failure's message (ENOTDIR, EROFS). */
function removeQuietly(paths: readonly string[]): void {
  for (const path of paths) {
    try {
      rmSync(path, { recursive: true });
    } catch {
      // the original error is what the admin needs to see (and most of these paths are not there)
    }
  }
}

export function wrapWriteError(error: unknown, mapFile: string): UserError {
  const dbFile = `${mapFile}.db`;
  if (error instanceof UserError) {
    return new UserError(`${error.message}; ${mapFile} and ${dbFile} left unchanged`, error.exitCode, { cause: error });
  }
  return new UserError(
    `cannot write ${mapFile}: ${describeFsError(error)}; the conf dir must be writable (mailcow: data/conf/postfix -> /opt/postfix/conf); sni.map and sni.map.db left unchanged`,
    1,
    { cause: error },
  );
}

/** The new map, 0600 from the moment it exists (postmap then gives the .db the same mode). */
function writePrivateFile(path: string, content: string, confDir: string): void {
  try {
    // No fsync: see the note at the top of this file.
    writeNewFile(path, content, { mode: SNI_MAP_MODE, durable: false });
  } catch (error) {
    throw new UserError(
      `cannot create files in ${confDir}: ${describeFsError(error)}; the conf dir must exist and be writable (mailcow: data/conf/postfix -> /opt/postfix/conf)`,
      1,
      { cause: error },
    );
  }
}

/** The keys of a map text: the first word of every line that is not blank or a comment. Pure. */
export function mapKeys(content: string): string[] {
  const keys: string[] = [];
  for (const line of content.split("\n")) {
    const key = line.trimStart().split(/[ \t]/, 1)[0];
    if (key && !key.startsWith("#")) keys.push(key.toLowerCase());
  }
  return keys;
}

function describeFsError(error: unknown): string {
  return errnoCode(error) ?? String(error);
}
