import { closeSync, openSync, readSync, realpathSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { tempPathFor } from "../atomic-write.ts";
import { UserError } from "../errors.ts";
import { openFileIdentity } from "../file-identity.ts";
import type { Logger } from "../log.ts";
import { dbHoldsExactly, expectTableKeys, mapToolConfigArgs, postmapUpdate, type PostfixTools } from "../postfix/index.ts";
import { outputsUnchanged, type TableRecord } from "../table-record.ts";
import { embeddedBytes, isEmbeddedValueChanged } from "./embedded.ts";
import type { EmbeddedValue, MapEntry } from "./types.ts";
import { installTable, removeTempPair, SNI_MAP_FILE, SNI_MAP_MODE, wrapWriteError, writeSniMapFiles } from "./write.ts";

// A renewal changes a handful of names of a table that may hold 10,000; rebuilding all of it
// with postmap -F costs as much as the table is large. When the record of the last build
// (table-record.ts) says which value every name holds and the .db is still the one that build
// left, the new table is that .db with only the changed names replaced: a private copy of it
// (0600, in the conf dir, renamed over sni.map.db like a full build's), `postmap -d` for the
// names gone, `postmap -r -i` for the names added or changed. The values go to postmap on stdin
// as postmap -F would store them (base64 of the judged bytes), so no key file is copied anywhere.
// A table that cannot be trusted (no record, the .db touched or replaced since, another postmap,
// keys on disk other than recorded) or a change of most names gets a full build instead.

/** Above this share of the table's names changed, a full build costs no more than an update. */
const MAX_CHANGED_SHARE = 0.5;

/** The names to write (added or with a new value) and the names to remove. */
export interface TableDelta {
  upserts: MapEntry[];
  removals: string[];
  /** The identity of the sni.map.db the record vouches for: the only one the update may start from. */
  base: string;
}

/**
 * What built a table: the postmap binary (path, size, mtime). A new Postfix or a new image
 * brings another one, whose .db format need not be the recorded build's: then a full build.
 */
export function postmapStamp(tools: PostfixTools): string | undefined {
  const path = Bun.which(tools.programs.postmap, { PATH: tools.env.PATH ?? "" });
  if (path === null) return undefined;
  try {
    const real = realpathSync(path);
    const stat = statSync(real);
    return `${real}:${stat.size}:${stat.mtimeMs}`;
  } catch {
    return undefined;
  }
}

/** Name -> value digest, from digests keyed by map line (`NAME FILE...`, index.ts's embeddedValueKey). Pure. */
export function digestsByName(byLine: Readonly<Record<string, string>> | ReadonlyMap<string, string>): Map<string, string> {
  const entries = byLine instanceof Map ? [...byLine] : Object.entries(byLine);
  return new Map(entries.map(([line, digest]) => [line.split(" ", 1)[0]!, digest]));
}

/** The names whose value is new or changed, and the names no longer mapped. Pure. */
export function tableDelta(
  previous: ReadonlyMap<string, string>,
  next: ReadonlyMap<string, string>,
): { changed: string[]; removed: string[] } {
  const changed = [...next].filter(([name, digest]) => previous.get(name) !== digest).map(([name]) => name);
  const removed = [...previous.keys()].filter((name) => !next.has(name));
  return { changed, removed };
}

/**
 * The update that turns the table in place into the one ENTRIES describe (INPUTS: their value
 * digests by map line), or undefined when the table in place is not known to be the recorded
 * one, or when most names change (a full build is then as cheap).
 */
export function incrementalDelta(
  record: TableRecord | undefined,
  confDir: string,
  entries: readonly MapEntry[],
  inputs: ReadonlyMap<string, string>,
  builtBy: string | undefined,
): TableDelta | undefined {
  if (record === undefined || builtBy === undefined || record.builtBy !== builtBy) return undefined;
  const mapFile = join(confDir, SNI_MAP_FILE);
  if (!outputsUnchanged(record, [mapFile, `${mapFile}.db`])) return undefined;
  const previous = digestsByName(record.inputs());
  const { changed, removed } = tableDelta(previous, digestsByName(inputs));
  if (changed.length + removed.length > entries.length * MAX_CHANGED_SHARE) return undefined;
  // The .db's own keys (read from its bucket pages) must be the recorded names.
  if (!dbHoldsExactly(mapFile, [...previous.keys()])) return undefined;
  const wanted = new Set(changed);
  return { upserts: entries.filter((entry) => wanted.has(entry.name)), removals: removed, base: record.outputs[`${mapFile}.db`]! };
}

/**
 * Put sni.map and a sni.map.db holding ENTRIES in place: by updating a copy of the table in
 * place when DELTA says how, else (or when the update fails) by a full build (write.ts).
 * Returns the delta applied in place, or undefined after a full build.
 */
export async function writeSniTable(
  tools: PostfixTools,
  confDir: string,
  content: string,
  entries: readonly MapEntry[],
  delta: TableDelta | undefined,
  log: Logger,
  whileBuilding?: () => void,
): Promise<TableDelta | undefined> {
  if (delta !== undefined) {
    try {
      await updateSniMapFiles(tools, confDir, content, entries, delta, log, whileBuilding);
      return delta;
    } catch (error) {
      if (isEmbeddedValueChanged(error)) throw error;
      // The table in place stays as it was; a full build is always correct.
      log.info(`sni-map: updating sni.map.db in place failed (${(error as Error).message}); building it in full`);
    }
  }
  await writeSniMapFiles(tools, confDir, content, entries, log, whileBuilding);
  return undefined;
}

/** Copy sni.map.db, apply DELTA to the copy with postmap, check its keys, rename it over sni.map.db. */
async function updateSniMapFiles(
  tools: PostfixTools,
  confDir: string,
  content: string,
  entries: readonly MapEntry[],
  delta: TableDelta,
  log: Logger,
  whileBuilding?: () => void,
): Promise<void> {
  const mapFile = join(confDir, SNI_MAP_FILE);
  const tempMap = tempPathFor(mapFile);
  try {
    copyPrivate(`${mapFile}.db`, `${tempMap}.db`, delta.base);
    await postmapUpdate(tools, tempMap, confDir, delta.removals, storedLines(delta.upserts), log, whileBuilding);
    const names = entries.map((entry) => entry.name);
    await expectTableKeys(tools, tempMap, mapToolConfigArgs(tools, confDir), names, "postmap left");
    installTable(`${tempMap}.db`, mapFile, content, true);
  } catch (error) {
    removeTempPair(tempMap);
    throw wrapWriteError(error, mapFile);
  }
}

/** `NAME VALUE` lines with each value as postmap -F stores it: base64 of the bytes, one encoding per shared value. Pure. */
export function storedLines(entries: readonly MapEntry[]): string {
  const encoded = new Map<EmbeddedValue, string>();
  let text = "";
  for (const entry of entries) {
    let value = encoded.get(entry.value);
    if (value === undefined) {
      const bytes = embeddedBytes(entry);
      value = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
      encoded.set(entry.value, value);
    }
    text += `${entry.name} ${value}\n`;
  }
  return text;
}

/**
 * A copy of FROM at TO, created 0600 (it holds private keys) and never wider, of exactly the
 * file whose identity is BASE. The record was checked against the path a moment ago; another
 * build may have renamed its own .db over it (or written into it) since, and a copy of that
 * one would carry values this run never judged under every name it leaves alone. The open
 * file's identity, taken once the copy is done, tells both: another file opened, or this one
 * written.
 */
function copyPrivate(from: string, to: string, base: string): void {
  const target = openSync(to, "wx", SNI_MAP_MODE);
  try {
    const source = openSync(from, "r");
    try {
      const chunk = Buffer.allocUnsafe(1 << 20);
      for (;;) {
        const read = readSync(source, chunk, 0, chunk.length, null);
        if (read === 0) break;
        let written = 0;
        while (written < read) written += writeSync(target, chunk, written, read - written);
      }
      if (openFileIdentity(source) !== base) throw new UserError(`${from} was replaced or rewritten since the recorded build`);
    } finally {
      closeSync(source);
    }
  } finally {
    closeSync(target);
  }
}
