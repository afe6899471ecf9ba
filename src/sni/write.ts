import { chmodSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { MAX_CONF_BYTES, readBoundedText } from "../bounded-read.ts";
import { basename, dirname, join } from "node:path";
import { tempPathFor, writeNewFile } from "../atomic-write.ts";
import { UserError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { postmapEmbedFiles } from "../postfix.ts";

// sni.map.db embeds the private keys (postmap -F), and postmap gives the .db the mode of its
// source file: both are created 0600 from the start. The new pair is built under temp names
// and renamed over the old one only after postmap succeeded, so a failed or interrupted run
// leaves the previous sni.map + sni.map.db working. No fsync: postmap does not sync the .db
// either, and every start rebuilds both files, so after a power loss the next start (there
// always is one) writes them again; the rename already keeps a killed run from leaving a
// half-written file in place.

export const SNI_MAP_FILE = "sni.map";
export const SNI_MAP_MODE = 0o600;

/**
 * A build of the map already in place, started before the new map is planned: a restart
 * almost always plans the same text, and postmap -F is most of a restart's time, so it runs on
 * another core while this one discovers, validates and plans. Used only when the new text is
 * byte for byte the one it built; otherwise it is cancelled and its files removed.
 */
export interface EarlyBuild {
  content: string;
  tempMap: string;
  /** Resolves when postmap built a table holding exactly the map's keys (postmapEmbedFiles). */
  built: Promise<void>;
  cancel(): Promise<void>;
}

/** Start postmap -F on a private copy of CONF/sni.map; undefined when there is none to copy. */
export function startEarlyBuild(confDir: string, log?: Logger): EarlyBuild | undefined {
  const mapFile = join(confDir, SNI_MAP_FILE);
  let content: string;
  try {
    content = readBoundedText(mapFile, MAX_CONF_BYTES);
  } catch {
    return undefined; // first start, or unreadable: the ordinary build reports what matters
  }
  removeStaleTempFiles(confDir);
  const tempMap = tempPathFor(mapFile);
  try {
    writeNewFile(tempMap, content, { mode: SNI_MAP_MODE, durable: false });
  } catch {
    removeTempPair(tempMap); // e.g. a disk that filled up mid-write
    return undefined;
  }
  const controller = new AbortController();
  const built = postmapEmbedFiles(tempMap, confDir, mapKeys(content), log, controller.signal);
  built.catch(() => {}); // judged only if used; a failure then means the ordinary build runs
  return {
    content,
    tempMap,
    built,
    async cancel() {
      controller.abort();
      await built.catch(() => {});
      removeTempPair(tempMap);
    },
  };
}

export async function writeSniMapFiles(confDir: string, content: string, log?: Logger, early?: EarlyBuild): Promise<{ mapFile: string; dbFile: string }> {
  const mapFile = join(confDir, SNI_MAP_FILE);
  if (early) {
    const usable = early.content === content && (await early.built.then(() => true, () => false));
    if (usable) return installPair(early.tempMap, mapFile);
    // Changed text, or a failed build: the ordinary build below words any error.
    await early.cancel();
  }
  const tempMap = tempPathFor(mapFile);
  removeStaleTempFiles(confDir);
  try {
    writePrivateFile(tempMap, content, confDir);
    await postmapEmbedFiles(tempMap, confDir, mapKeys(content), log);
  } catch (error) {
    removeTempPair(tempMap);
    throw wrapWriteError(error, mapFile);
  }
  return installPair(tempMap, mapFile);
}

/** Rename a built temp pair over sni.map(.db). */
function installPair(tempMap: string, mapFile: string): { mapFile: string; dbFile: string } {
  const dbFile = `${mapFile}.db`;
  try {
    chmodSync(`${tempMap}.db`, SNI_MAP_MODE);
    // The .db first: it is what smtpd reads. A crash between the renames leaves a current
    // .db beside an old text file, which the next run rewrites.
    renameSync(`${tempMap}.db`, dbFile);
    renameSync(tempMap, mapFile);
  } catch (error) {
    removeTempPair(tempMap);
    throw wrapWriteError(error, mapFile);
  }
  return { mapFile, dbFile };
}

/** The temp pair and Berkeley DB's own scratch file (`__db.NAME`), which stays behind when postmap dies of ENOSPC. */
function removeTempPair(tempMap: string): void {
  removeQuietly([tempMap, `${tempMap}.db`, join(dirname(tempMap), `__db.${basename(tempMap)}.db`)]);
}

/** Cleanup after a failure must not replace the failure's message (ENOTDIR, EROFS). */
function removeQuietly(paths: readonly string[]): void {
  for (const path of paths) {
    try {
      rmSync(path, { force: true });
    } catch {
      // the original error is what the admin needs to see
    }
  }
}

function wrapWriteError(error: unknown, mapFile: string): UserError {
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

/** Temp files older than this were left by a killed run (a live run needs well under a minute). */
const STALE_TEMP_MS = 10 * 60 * 1000;

/** A run killed mid-way leaves `.sni.map.*.tmp(.db)` behind, holding key material: remove them. */
function removeStaleTempFiles(confDir: string): void {
  let names: string[];
  try {
    names = readdirSync(confDir);
  } catch {
    return; // reported by the write that follows
  }
  for (const name of names) {
    if (!/^\.sni\.map\.[0-9a-f]+\.tmp(\.db)?$/.test(name)) continue;
    const path = join(confDir, name);
    try {
      if (Date.now() - statSync(path).mtimeMs > STALE_TEMP_MS) rmSync(path, { force: true });
    } catch {
      // Gone already, or not ours to judge: leave it.
    }
  }
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
  const code = (error as NodeJS.ErrnoException).code;
  return code ? `${code}` : String(error);
}
