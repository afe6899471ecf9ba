import { UserError } from "../errors.ts";
import { execaModule } from "../execa.ts";
import { readHashDbKeys } from "./hash-db.ts";
import { createKeyReader, summarizeToolOutput } from "./output.ts";
import type { PostfixTools } from "./tools.ts";

// The key check of a built table: postmap -F exits 0 even when it skips entries, so a build
// counts only when the .db holds exactly the map's keys. The .db is read directly first
// (hash-db.ts, costs in docs/performance.md); `postmap -s` decides when that read cannot.

/**
 * What differs between `expectedKeys` and the keys of hash:MAP_FILE, or undefined when they are
 * equal: the .db read directly, else `postmap -s`.
 */
export async function tableKeysDiffer(
  tools: PostfixTools,
  mapFile: string,
  configArgs: string[],
  expectedKeys: readonly string[],
): Promise<string | undefined> {
  if (dbHoldsExactly(mapFile, expectedKeys)) return undefined;
  return compareKeys(expectedKeys, await postmapKeys(tools, `hash:${mapFile}`, configArgs));
}

/**
 * A built table holds exactly `expectedKeys` (tableKeysDiffer), else a UserError saying what
 * differs, led by WHAT ("postmap -F built", "postmap left").
 */
export async function expectTableKeys(
  tools: PostfixTools,
  mapFile: string,
  configArgs: string[],
  expectedKeys: readonly string[],
  what: string,
): Promise<void> {
  const difference = await tableKeysDiffer(tools, mapFile, configArgs, expectedKeys);
  if (difference) throw new UserError(`${what} a table that does not match the map: ${difference}`);
}

/** Whether MAP_FILE.db, read directly (hash-db.ts), holds exactly `expectedKeys`; false when that read cannot tell. */
export function dbHoldsExactly(mapFile: string, expectedKeys: readonly string[]): boolean {
  const stored = readHashDbKeys(`${mapFile}.db`);
  return stored !== undefined && compareKeys(expectedKeys, stored) === undefined;
}

/** What differs between the keys written and the keys stored, or undefined when they are equal. Pure. */
export function compareKeys(expected: readonly string[], stored: readonly string[]): string | undefined {
  const want = new Set(expected);
  const have = new Set(stored);
  const missing = [...want].filter((key) => !have.has(key));
  const extra = [...have].filter((key) => !want.has(key));
  if (missing.length === 0 && extra.length === 0 && stored.length === have.size) return undefined;
  const sample = (keys: string[]) => keys.slice(0, 3).join(", ") + (keys.length > 3 ? ", ..." : "");
  const parts = [`${have.size} of ${want.size} names stored`];
  if (missing.length) parts.push(`missing ${missing.length} (${sample(missing)})`);
  if (extra.length) parts.push(`unexpected ${extra.length} (${sample(extra)})`);
  if (stored.length !== have.size) parts.push(`${stored.length - have.size} duplicate keys`);
  return parts.join("; ");
}

/**
 * Every key of an indexed table (`postmap -s`), read as a stream (createKeyReader): with -F the
 * values are the embedded files, tens of MB for a large map, never held.
 */
export async function postmapKeys(tools: PostfixTools, map: string, configArgs: string[]): Promise<string[]> {
  const { execa } = await execaModule();
  // stdout unbuffered (read below as it comes), stderr kept for the error message.
  const child = execa(tools.programs.postmap, [...configArgs, "-s", map], {
    stdin: "ignore",
    buffer: { stdout: false, stderr: true },
    reject: false,
    env: tools.env,
    extendEnv: false,
  });
  const reader = createKeyReader();
  for await (const chunk of child.stdout as AsyncIterable<Buffer>) reader.push(chunk);
  const result = await child;
  if (result.failed)
    throw new UserError(
      `postmap -s ${map} failed (exit ${result.exitCode ?? "none"}): ${summarizeToolOutput(String(result.stderr)) || result.shortMessage || "no output"}`,
    );
  return reader.keys;
}
