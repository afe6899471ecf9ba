import { afterAll, expect, test } from "bun:test";
import { readFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hashDbKeys, readHashDbKeys } from "../../../src/postfix/hash-db.ts";
import { postmapKeys, tableKeysDiffer } from "../../../src/postfix/keys.ts";
import { makeCertificate } from "../../support/certs.ts";
import { testTools } from "../../support/postfix-tools.ts";
import { makeTempDir, writeSettledFile } from "../../support/tmp.ts";

// Tables built by the real postmap on this machine; the reader must give exactly the keys
// `postmap -s` gives, or say it is unsure (undefined), never a wrong list.

const temp = makeTempDir("mpi-hash-db-");
afterAll(temp.cleanup);
writeSettledFile(join(temp.path, "main.cf"), "compatibility_level = 3.6\n");
const configArgs = ["-c", temp.path];

function buildTable(name: string, lines: string[], flags: string[] = []): string {
  const mapFile = join(temp.path, name);
  writeFileSync(mapFile, `${lines.join("\n")}\n`);
  const result = Bun.spawnSync(["postmap", ...configArgs, ...flags, `hash:${mapFile}`], { stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(result.stderr.toString());
  return mapFile;
}

const sorted = (keys: readonly string[] | undefined) => (keys ? [...keys].sort() : keys);

test("3,000 keys (bucket splits, chained bucket pages): the same keys as postmap -s", async () => {
  const mapFile = buildTable(
    "many",
    Array.from({ length: 3000 }, (_, index) => `name${index}.example.test value${index}`),
  );
  const keys = readHashDbKeys(`${mapFile}.db`);
  expect(keys).toHaveLength(3000);
  expect(sorted(keys)).toEqual(sorted(await postmapKeys(testTools(), `hash:${mapFile}`, configArgs)));
});

test("postmap -F (embedded files on overflow pages): keys only, values never read", async () => {
  const made = makeCertificate(join(temp.path, "cert"), { names: ["a.example.test"], keyType: "rsa" });
  const mapFile = buildTable(
    "embedded",
    ["a.example.test", "b.example.test", "Mixed.Example.Test"].map((name) => `${name} ${made.keyFile} ${made.certFile}`),
    ["-F"],
  );
  expect(sorted(readHashDbKeys(`${mapFile}.db`))).toEqual(["a.example.test", "b.example.test", "mixed.example.test"]);
});

test("missing, empty, text and truncated files: unsure, not an empty list", () => {
  const mapFile = buildTable(
    "cut",
    Array.from({ length: 500 }, (_, index) => `k${index} v`),
  );
  const db = `${mapFile}.db`;
  expect(readHashDbKeys(join(temp.path, "absent.db"))).toBeUndefined();
  expect(readHashDbKeys(mapFile)).toBeUndefined(); // the text source
  writeFileSync(join(temp.path, "empty.db"), "");
  expect(readHashDbKeys(join(temp.path, "empty.db"))).toBeUndefined();
  truncateSync(db, 4096); // the meta page alone
  expect(readHashDbKeys(db)).toBeUndefined();
});

test("pages it does not know, a looping chain, a key on overflow pages: unsure", () => {
  const mapFile = buildTable("damaged", ["one.example.test x", "two.example.test y"]);
  const original = readFileSync(`${mapFile}.db`);
  const pageSize = original.readUInt32LE(20);
  const reader = (bytes: Buffer) => (pgno: number, size: number) =>
    bytes.length >= (pgno + 1) * size ? bytes.subarray(pgno * size, (pgno + 1) * size) : undefined;
  expect(sorted(hashDbKeys(reader(original)))).toEqual(["one.example.test", "two.example.test"]);
  // Bucket 0 is page 1 in a fresh table.
  const wrongType = Buffer.from(original);
  wrongType[pageSize + 25] = 7;
  expect(hashDbKeys(reader(wrongType))).toBeUndefined();
  const loop = Buffer.from(original);
  loop.writeUInt32LE(1, pageSize + 16); // next page: itself
  expect(hashDbKeys(reader(loop))).toBeUndefined();
  const swapped = Buffer.from(original);
  swapped.writeUInt32BE(0x061561, 12); // a big-endian file
  expect(hashDbKeys(reader(swapped))).toBeUndefined();
  // Keys longer than a quarter page are stored on overflow pages, which this reader leaves to postmap -s.
  const longKey = buildTable("long-key", [`${"a".repeat(1500)}.example.test x`]);
  expect(readHashDbKeys(`${longKey}.db`)).toBeUndefined();
});

test("tableKeysDiffer: the direct read confirms; when it cannot, postmap -s decides", async () => {
  const mapFile = buildTable("compare", ["one.example.test x", "two.example.test y"]);
  expect(await tableKeysDiffer(testTools(), mapFile, configArgs, ["one.example.test", "two.example.test"])).toBeUndefined();
  expect(await tableKeysDiffer(testTools(), mapFile, configArgs, ["one.example.test"])).toBe(
    "2 of 1 names stored; unexpected 1 (two.example.test)",
  );
  const longName = `${"a".repeat(1500)}.example.test`;
  const longKey = buildTable("long-compare", [`${longName} x`]);
  expect(await tableKeysDiffer(testTools(), longKey, configArgs, [longName])).toBeUndefined();
});
