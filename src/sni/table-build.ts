// Building sni.map.db once the map is planned (index.ts): nothing when the table in place is
// the one the plan gives (the table record says so), else only the changed names in place
// (table-update.ts), else in full: by finishing the table built while judging
// (streamed-build.ts) on a first start, or from scratch (write.ts).
import { join } from "node:path";
import { MAX_CONF_BYTES, readBoundedTextIfExists } from "../bounded-read.ts";
import { fileIdentity } from "../file-identity.ts";
import type { Logger } from "../log.ts";
import { dbHoldsExactly, type PostfixTools } from "../postfix/index.ts";
import {
  forgetTableRecord,
  prepareTableRecord,
  readTableRecord,
  savePreparedTableRecord,
  tableIsCurrent,
  tableRecordFileFor,
  type PreparedTableRecord,
  type TableRecord,
} from "../table-record.ts";
import { isEmbeddedValueChanged } from "./embedded.ts";
import type { StreamedBuild } from "./streamed-build.ts";
import { incrementalDelta, postmapStamp, writeSniTable, type TableDelta } from "./table-update.ts";
import type { MapEntry } from "./types.ts";
import { mapKeys, SNI_MAP_FILE } from "./write.ts";

/**
 * Whether the table in place is the one CONTENT and INPUTS (embeddedValueDigests) would build:
 * the table record of the last build says so, the map text is CONTENT, and the .db holds
 * exactly its keys (read from the .db's pages; a .db that read cannot confirm is rebuilt
 * rather than trusted).
 */
export function sniTableInPlace(
  confDir: string,
  cacheFile: string | undefined,
  content: string,
  inputs: ReadonlyMap<string, string>,
): boolean {
  const mapFile = join(confDir, SNI_MAP_FILE);
  const recordFile = tableRecordFileFor(cacheFile, "sni.map");
  return (
    tableIsCurrent(tableRecord(recordFile), inputs, [mapFile, `${mapFile}.db`]) &&
    readBoundedTextIfExists(mapFile, MAX_CONF_BYTES) === content &&
    dbHoldsExactly(mapFile, mapKeys(content))
  );
}

/**
 * Build sni.map(.db): only the changed names when the table record of the last build vouches
 * for the table in place (table-update.ts), else in full: by finishing STREAMED, the table
 * built while judging (streamed-build.ts), when there is one, else from scratch (write.ts). The
 * record is dropped first and written after a good build; its bulk (a digest per name) is made
 * while postmap runs, as is WHILE_BUILDING (the caller's work that does not wait for the
 * table), which is called once either way. Returns the changes made in place, or undefined
 * after a full build.
 */
export async function buildSniTable(
  tools: PostfixTools,
  confDir: string,
  cacheFile: string | undefined,
  content: string,
  entries: readonly MapEntry[],
  inputs: ReadonlyMap<string, string>,
  log: Logger,
  whileBuilding?: () => void,
  streamed?: StreamedBuild,
): Promise<TableDelta | undefined> {
  const mapFile = join(confDir, SNI_MAP_FILE);
  const recordFile = tableRecordFileFor(cacheFile, "sni.map");
  const builtBy = postmapStamp(tools);
  const delta = incrementalDelta(tableRecord(recordFile), confDir, entries, inputs, builtBy);
  if (recordFile !== undefined) forgetTableRecord(recordFile);
  let prepared: { record: PreparedTableRecord | undefined } | undefined;
  const overlap = () => {
    if (prepared !== undefined) return;
    prepared = { record: recordFile === undefined ? undefined : prepareTableRecord(inputs) };
    whileBuilding?.();
  };
  let updated: TableDelta | undefined;
  if (streamed !== undefined && delta === undefined) {
    const failure = await streamedFailure(streamed, content, entries, overlap);
    if (failure !== undefined) {
      await writeSniTable(tools, confDir, content, entries, undefined, log, overlap);
      // Said once the build from scratch worked: when it fails too, its error is the one line.
      log.info(`sni-map: building sni.map.db while judging failed (${failure}); built it again from scratch`);
    }
  } else updated = await writeSniTable(tools, confDir, content, entries, delta, log, overlap);
  overlap(); // when no postmap ran (nothing to change in place)
  if (recordFile !== undefined) savePreparedTableRecord(recordFile, prepared!.record, [mapFile, `${mapFile}.db`], log, builtBy);
  return updated;
}

/** Undefined when STREAMED finished the table; else why it did not (a build from scratch is to follow). */
async function streamedFailure(
  streamed: StreamedBuild,
  content: string,
  entries: readonly MapEntry[],
  whileBuilding: () => void,
): Promise<string | undefined> {
  try {
    await streamed.finish(content, entries, whileBuilding);
    return undefined;
  } catch (error) {
    if (isEmbeddedValueChanged(error)) throw error;
    // The table in place stays as it was; a build from scratch is always correct.
    return (error as Error).message;
  }
}

/** Whether CACHE_FILE's runs keep no record of the last build of sni.map.db, or it is gone: the next build is a full one. */
export function fullBuildCertain(cacheFile: string | undefined): boolean {
  return tableRecord(tableRecordFileFor(cacheFile, "sni.map")) === undefined;
}

/** The last table record read: the file and its identity when read, and what it held. */
let recordRead: { key: string; record: TableRecord | undefined } = { key: "", record: undefined };

/**
 * The table record in FILE, parsed once per run while the file stays the same (the check
 * and the build that follows it both need it; it holds a line per name); none without a FILE
 * (no cache file: no record is kept). A record that vanished after it was read still says
 * only what was true of the table then: the table's own identities in it decide whether it
 * vouches for anything.
 */
function tableRecord(file: string | undefined): TableRecord | undefined {
  if (file === undefined) return undefined;
  const key = `${file}\0${fileIdentity(file)}`;
  if (recordRead.key !== key) recordRead = { key, record: readTableRecord(file) };
  return recordRead.record;
}

/**
 * What the table embeds, as content digests keyed by map line: the .db is a function of
 * exactly these (write.ts builds it from the judged bytes), so equal digests, an equal map
 * text and an untouched .db mean a build would give the table already in place.
 */
export function embeddedValueDigests(entries: readonly MapEntry[]): Map<string, string> {
  return new Map(entries.map((entry) => [embeddedValueKey(entry), entry.value.digest]));
}

/** An entry's key in embeddedValueDigests: its map line. */
export function embeddedValueKey(entry: MapEntry): string {
  return `${entry.name} ${entry.files.join(" ")}`;
}
