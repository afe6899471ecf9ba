import { afterAll, describe, expect, test } from "bun:test";
import {
  appendFileSync,
  chmodSync,
  copyFileSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { UserError } from "../../../src/errors.ts";
import { createMemoryLogger } from "../../../src/log.ts";
import { createPostfixTools } from "../../../src/postfix/index.ts";
import { isEmbeddedValueChanged } from "../../../src/sni/embedded.ts";
import { buildSniTable, embeddedValueDigests } from "../../../src/sni/index.ts";
import { incrementalDelta, postmapStamp, writeSniTable } from "../../../src/sni/table-update.ts";
import { fileIdentity } from "../../../src/file-identity.ts";
import { readTableRecord, saveTableRecord, tableRecordFileFor } from "../../../src/table-record.ts";
import type { StreamedBuild } from "../../../src/sni/streamed-build.ts";
import type { MapEntry } from "../../../src/sni/types.ts";
import { makeCertificate } from "../../support/certs.ts";
import { minimalConfDir } from "../../support/fixture.ts";
import { entriesFromMapText, toolsWithPostmapShim } from "../../support/map-text.ts";
import { testTools } from "../../support/postfix-tools.ts";
import { makeTempDir } from "../../support/tmp.ts";

// When sni.map.db is updated in place and when it is built in full (docs/map-rules.md, "Builds
// after a renewal change only what changed"): only when the record vouches for the .db in place
// (outputs untouched since the recorded build, made by the same postmap binary, its keys the
// recorded names) and at most half of the names change. Both give the same table (the
// differential test is test/integration/sni-incremental.test.ts); which one ran is told by the
// delta (the summary's "updated in place"). Real postmap throughout.

const temp = makeTempDir("mpi-table-choice-");
afterAll(() => temp.cleanup());
const tools = testTools();
const pool = Array.from({ length: 6 }, (_, index) =>
  makeCertificate(join(temp.path, "pool", String(index)), { names: [`p${index}.example.test`] }),
);
const NAMES = ["a", "b", "c", "d"].map((name) => `${name}.example.test`);

/** A map text: each name on the pool pair its index says. */
const mapText = (names: readonly string[], pairs: readonly number[]) =>
  names.map((name, index) => `${name} ${pool[pairs[index]!]!.keyFile} ${pool[pairs[index]!]!.certFile}\n`).join("");

let count = 0;
/** A conf dir whose table was built in full from TEXT, with the record of that build. */
async function built(text: string) {
  const root = join(temp.path, `case-${++count}`);
  const confDir = minimalConfDir(join(root, "conf"));
  const cacheFile = join(root, "spool", "cache.json");
  const entries = entriesFromMapText(text);
  await buildSniTable(tools, confDir, cacheFile, text, entries, embeddedValueDigests(entries), createMemoryLogger());
  const recordFile = tableRecordFileFor(cacheFile, "sni.map")!;
  /** The update incrementalDelta finds from the recorded build to NEXT (a map text, or its entries). */
  const delta = (next: string | MapEntry[], stamp = postmapStamp(tools)) => {
    const nextEntries = typeof next === "string" ? entriesFromMapText(next) : next;
    return incrementalDelta(readTableRecord(recordFile), confDir, nextEntries, embeddedValueDigests(nextEntries), stamp);
  };
  return { root, confDir, recordFile, entries, delta, mapFile: join(confDir, "sni.map") };
}

const upserted = (delta: ReturnType<Awaited<ReturnType<typeof built>>["delta"]>) =>
  delta && { upserts: delta.upserts.map((entry) => entry.name), removals: delta.removals };

test("the postmap that builds the table: its real path, size and mtime; another binary, or this one changed, is another", () => {
  const [first, linked, empty] = ["first", "linked", "empty"].map((dir) => join(temp.path, "stamp", dir));
  for (const dir of [first!, linked!, empty!]) mkdirSync(dir, { recursive: true });
  writeFileSync(join(first!, "postmap"), '#!/bin/sh\nexec /usr/sbin/postmap "$@"\n', { mode: 0o755 });
  symlinkSync(join(first!, "postmap"), join(linked!, "postmap"));
  const stampIn = (dir: string) => postmapStamp(createPostfixTools({ configDir: tools.configDir, env: { PATH: dir } }));
  const stamp = stampIn(first!);
  const { size, mtimeMs } = statSync(join(first!, "postmap"));
  expect(stamp).toBe(`${join(first!, "postmap")}:${size}:${mtimeMs}`);
  expect(stampIn(linked!)).toBe(stamp);
  expect(stampIn(empty!)).toBeUndefined();
  appendFileSync(join(first!, "postmap"), "# a new release\n");
  expect(stampIn(first!)).not.toBe(stamp);
});

describe("updated in place only when at most half of the names change", () => {
  test("two of four names changed: in place; three: in full", async () => {
    const { delta } = await built(mapText(NAMES, [0, 1, 2, 3]));
    expect(upserted(delta(mapText(NAMES, [4, 5, 2, 3])))).toEqual({ upserts: ["a.example.test", "b.example.test"], removals: [] });
    expect(delta(mapText(NAMES, [4, 5, 0, 3]))).toBeUndefined();
  });

  test("names removed count as changes: one removed of four, in place; two removed and one changed, in full", async () => {
    const { delta } = await built(mapText(NAMES, [0, 1, 2, 3]));
    expect(upserted(delta(mapText(NAMES.slice(0, 3), [0, 1, 2])))).toEqual({ upserts: [], removals: ["d.example.test"] });
    expect(delta(mapText(NAMES.slice(0, 2), [4, 1]))).toBeUndefined();
  });
});

describe("the record must vouch for the table in place", () => {
  test("a table built by another postmap, or by one that could not be told, is built in full", async () => {
    const { delta, recordFile, confDir, entries, mapFile } = await built(mapText(NAMES, [0, 1, 2, 3]));
    const renewal = mapText(NAMES, [4, 1, 2, 3]);
    expect(upserted(delta(renewal))).toEqual({ upserts: ["a.example.test"], removals: [] });
    expect(delta(renewal, `${postmapStamp(tools)}-other`)).toBeUndefined();
    // The same build recorded without knowing its postmap: nothing this run's postmap can match.
    expect(saveTableRecord(recordFile, embeddedValueDigests(entries), [mapFile, `${mapFile}.db`], createMemoryLogger())).toBe(true);
    expect(readTableRecord(recordFile)?.builtBy).toBeUndefined();
    const renewed = entriesFromMapText(renewal);
    const unknownPostmap = incrementalDelta(readTableRecord(recordFile), confDir, renewed, embeddedValueDigests(renewed), undefined);
    expect(unknownPostmap).toBeUndefined();
    expect(delta(renewal)).toBeUndefined();
    expect(readdirSync(confDir).sort()).toEqual(["main.cf", "sni.map", "sni.map.db"]);
  });

  test("sni.map or sni.map.db changed since the recorded build (the same bytes written again, a chmod): in full", async () => {
    const renewal = mapText(NAMES, [4, 1, 2, 3]);
    const text = await built(mapText(NAMES, [0, 1, 2, 3]));
    const db = await built(mapText(NAMES, [0, 1, 2, 3]));
    await Bun.sleep(25); // past the kernel's timestamp tick, whatever its granularity: the change shows in ctime
    writeFileSync(text.mapFile, readFileSync(text.mapFile));
    expect(text.delta(renewal)).toBeUndefined();
    chmodSync(`${db.mapFile}.db`, 0o600);
    expect(db.delta(renewal)).toBeUndefined();
  });

  test("a .db whose keys are not the names recorded: in full", async () => {
    const { delta, recordFile, mapFile } = await built(mapText(NAMES.slice(0, 3), [0, 1, 2]));
    // A record naming one name more than the .db holds, its outputs as they are.
    const claimed = entriesFromMapText(mapText(NAMES, [0, 1, 2, 3]));
    saveTableRecord(recordFile, embeddedValueDigests(claimed), [mapFile, `${mapFile}.db`], createMemoryLogger(), postmapStamp(tools));
    expect(delta(mapText(NAMES, [4, 1, 2, 3]))).toBeUndefined();
  });
});

describe("writeSniTable", () => {
  test("no update to make in place: a full build, without a word about one", async () => {
    const { confDir } = await built(mapText(NAMES, [0, 1, 2, 3]));
    const text = mapText(NAMES, [4, 5, 0, 1]);
    const log = createMemoryLogger();
    expect(await writeSniTable(tools, confDir, text, entriesFromMapText(text), undefined, log)).toBeUndefined();
    expect(log.lines).toEqual([]);
    expect(readFileSync(join(confDir, "sni.map"), "utf8")).toBe(text);
  });

  test("postmap leaving keys other than the map's: the update is dropped, one line says why, and the table is built in full", async () => {
    const { root, confDir, delta } = await built(mapText(NAMES.slice(0, 3), [0, 1, 2]));
    const text = mapText(NAMES, [0, 1, 2, 3]);
    const update = delta(text);
    expect(upserted(update)).toEqual({ upserts: ["d.example.test"], removals: [] });
    // A postmap whose `-r -i` takes its input and stores none of it.
    const losing = toolsWithPostmapShim(
      root,
      '#!/bin/bash\nif [[ " $* " == *" -i "* ]]; then cat > /dev/null; exit 0; fi\nexec /usr/sbin/postmap "$@"\n',
    );
    const log = createMemoryLogger();
    expect(await writeSniTable(losing, confDir, text, entriesFromMapText(text), update, log)).toBeUndefined();
    expect(log.lines).toHaveLength(1);
    expect(log.lines[0]).toContain(
      "sni-map: updating sni.map.db in place failed (postmap left a table that does not match the map: 3 of 4 names stored; missing 1 (d.example.test); ",
    );
    expect(log.lines[0]).toEndWith("; building it in full");
    const query = Bun.spawnSync(["postmap", "-c", confDir, "-q", "d.example.test", `hash:${join(confDir, "sni.map")}`]);
    expect(Buffer.from(query.stdout.toString(), "base64").toString()).toContain(readFileSync(pool[3]!.certFile, "utf8"));
  });

  test("a value changed since it was judged: nothing is built, not even in full, and the run is told to read again", async () => {
    const { root, confDir, delta } = await built(mapText(NAMES, [0, 1, 2, 3]));
    const pair = makeCertificate(join(root, "renewed"), { names: ["a.example.test"] });
    const text = `a.example.test ${pair.keyFile} ${pair.certFile}\n${mapText(NAMES.slice(1), [1, 2, 3])}`;
    const entries = entriesFromMapText(text);
    const update = delta(entries)!;
    expect(upserted(update)).toEqual({ upserts: ["a.example.test"], removals: [] });
    delete entries[0]!.value.bytes; // judged earlier: read again when embedded
    makeCertificate(join(root, "renewed"), { names: ["a.example.test"], existingKey: pair.keyFile });
    const before = readFileSync(join(confDir, "sni.map.db"));
    const log = createMemoryLogger();
    const error = await writeSniTable(tools, confDir, text, entries, update, log).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(isEmbeddedValueChanged(error)).toBe(true);
    expect(log.lines).toEqual([]);
    expect(readFileSync(join(confDir, "sni.map.db"))).toEqual(before);
    expect(readdirSync(confDir).sort()).toEqual(["main.cf", "sni.map", "sni.map.db"]);
  });

  test("in place, sni.map is written (0600) only when its text changed, and no file is left open", async () => {
    const { root, confDir, delta, mapFile } = await built(mapText(NAMES, [0, 1, 2, 3]));
    /** The files under DIR this process has open. */
    const openIn = (dir: string) =>
      readdirSync("/proc/self/fd").flatMap((fd) => {
        try {
          const target = readlinkSync(join("/proc/self/fd", fd));
          return target.startsWith(`${dir}/`) ? [target] : [];
        } catch {
          return []; // closed since it was listed
        }
      });
    // A renewal in place: the same files, new bytes; the map text stays the same.
    const renewed = join(root, "renewed");
    const pair = makeCertificate(renewed, { names: ["a.example.test"] });
    copyFileSync(pool[0]!.keyFile, join(root, "key.pem"));
    copyFileSync(pool[0]!.certFile, join(root, "cert.pem"));
    const text = `a.example.test ${join(root, "key.pem")} ${join(root, "cert.pem")}\n${mapText(NAMES.slice(1), [1, 2, 3])}`;
    const rebuilt = await built(text);
    copyFileSync(pair.keyFile, join(root, "key.pem"));
    copyFileSync(pair.certFile, join(root, "cert.pem"));
    const mapIdentity = fileIdentity(rebuilt.mapFile);
    const update = rebuilt.delta(text)!;
    expect(upserted(update)).toEqual({ upserts: ["a.example.test"], removals: [] });
    expect(await writeSniTable(tools, rebuilt.confDir, text, entriesFromMapText(text), update, createMemoryLogger())).toBe(update);
    expect(openIn(rebuilt.confDir)).toEqual([]);
    expect(fileIdentity(rebuilt.mapFile)).toBe(mapIdentity);

    // A name added: the new text, 0600 as a full build writes it.
    const added = mapText(NAMES, [0, 1, 2, 3]) + mapText(["e.example.test"], [4]);
    const addition = delta(added)!;
    expect(await writeSniTable(tools, confDir, added, entriesFromMapText(added), addition, createMemoryLogger())).toBe(addition);
    expect(readFileSync(mapFile, "utf8")).toBe(added);
    expect(statSync(mapFile).mode & 0o777).toBe(0o600);
  });
});

describe("buildSniTable", () => {
  test("in full after judging (most names changed) and in place: not a word about a build while judging; the caller's work beside postmap runs once", async () => {
    const { confDir, root } = await built(mapText(NAMES, [0, 1, 2, 3]));
    const cacheFile = join(root, "spool", "cache.json");
    for (const [text, inPlace] of [
      [mapText(NAMES, [4, 5, 0, 3]), false],
      [mapText(NAMES, [4, 5, 0, 0]), true],
    ] as const) {
      const entries = entriesFromMapText(text);
      const log = createMemoryLogger();
      let beside = 0;
      const delta = await buildSniTable(tools, confDir, cacheFile, text, entries, embeddedValueDigests(entries), log, () => beside++);
      expect({ inPlace: delta !== undefined, beside, lines: log.lines }).toEqual({ inPlace, beside: 1, lines: [] });
      expect(readFileSync(join(confDir, "sni.map"), "utf8")).toBe(text);
    }
  });

  test("a build while judging that fails after the caller's work ran: built from scratch, the work not run again, one line", async () => {
    const root = join(temp.path, "streamed-fails");
    const confDir = minimalConfDir(join(root, "conf"));
    const text = mapText(NAMES, [0, 1, 2, 3]);
    const entries = entriesFromMapText(text);
    const failing: StreamedBuild = {
      add() {},
      async finish(_content, _entries, whileBuilding) {
        whileBuilding?.();
        throw new UserError("stand-in failure");
      },
      async abort() {},
    };
    const log = createMemoryLogger();
    let beside = 0;
    const cacheFile = join(root, "spool", "cache.json");
    const inputs = embeddedValueDigests(entries);
    expect(await buildSniTable(tools, confDir, cacheFile, text, entries, inputs, log, () => beside++, failing)).toBeUndefined();
    expect(beside).toBe(1);
    expect(log.lines).toEqual([
      "mailcow-postfix-init: sni-map: building sni.map.db while judging failed (stand-in failure); built it again from scratch",
    ]);
    expect(readFileSync(join(confDir, "sni.map"), "utf8")).toBe(text);
    expect(readTableRecord(tableRecordFileFor(cacheFile, "sni.map")!)).toBeDefined();
  });

  test("a full build writes sni.map anew even when its text is the same (0600, whatever was there)", async () => {
    const { confDir, mapFile } = await built(mapText(NAMES, [0, 1, 2, 3]));
    const text = mapText(NAMES, [4, 5, 0, 3]);
    writeFileSync(mapFile, text);
    chmodSync(mapFile, 0o644);
    const before = fileIdentity(mapFile);
    const log = createMemoryLogger();
    expect(await writeSniTable(tools, confDir, text, entriesFromMapText(text), undefined, log)).toBeUndefined();
    expect(statSync(mapFile).mode & 0o777).toBe(0o600);
    expect(fileIdentity(mapFile)).not.toBe(before);
  });
});
