import { describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createMemoryLogger } from "../../src/log.ts";
import { runRecordFileFor } from "../../src/sni/run-record.ts";
import { updateSniMap } from "../../src/sni/update.ts";
import { testTools } from "../support/postfix-tools.ts";
import {
  forgetTableRecord,
  readTableRecord,
  saveTableRecord,
  snapshotIdentities,
  tableIsCurrent,
  tableRecordFileFor,
} from "../../src/table-record.ts";
import { makeCertificate, makeCertificateDirectory } from "../support/certs.ts";
import { mailTrees, tempDirs } from "../support/fixture.ts";

// updateSniMap with a cache file, as in a container: a restart with nothing changed keeps the
// table in place (no postmap -F); every change of an input or an output means a real build.
// Real postmap; the embedded content is read back with `postmap -q`. Then the record's own rules.

const mailTree = mailTrees("mpi-unchanged-");

const UNCHANGED = "(unchanged: no certificate, key or map file changed since sni.map.db was built)";

/** A tree whose files are older than the record's settle time (1 s) when the first run starts. */
async function settledTree() {
  const { root, confDir, sslDir, defaultCert, dirs } = mailTree({ certificateDirs: { "other.example.test": ["other.example.test"] } });
  const other = dirs["other.example.test"]!;
  await Bun.sleep(1_100);
  const cacheFile = join(root, "spool", ".mailcow-postfix-init", "sni-validation-cache.json");
  return { confDir, sslDir, defaultCert: defaultCert!, other, cacheFile };
}

async function run(tree: Awaited<ReturnType<typeof settledTree>>) {
  const log = createMemoryLogger();
  await updateSniMap({
    tools: testTools(),
    sslDir: tree.sslDir,
    confDir: tree.confDir,
    hostname: "mail.example.test",
    log,
    cacheFile: tree.cacheFile,
  });
  const db = statSync(join(tree.confDir, "sni.map.db"));
  return { lines: log.lines, unchanged: log.lines.some((line) => line.endsWith(UNCHANGED)), dbInode: db.ino };
}

/** What the table holds for NAME: the embedded certificate chain's PEM (second half of the value). */
function embeddedCertificate(confDir: string, name: string): string {
  const query = Bun.spawnSync(["postmap", "-c", confDir, "-q", name, `hash:${confDir}/sni.map`]);
  const value = Buffer.from(query.stdout.toString().trim(), "base64").toString();
  return value.slice(value.indexOf("-----BEGIN CERTIFICATE-----"));
}

describe("a restart with nothing changed keeps sni.map.db", () => {
  test("the second run builds nothing: same .db inode, one line saying why, the record beside the cache", async () => {
    const tree = await settledTree();
    const first = await run(tree);
    expect(first.unchanged).toBe(false);
    expect(existsSync(tableRecordFileFor(tree.cacheFile, "sni.map")!)).toBe(true);
    expect(statSync(tableRecordFileFor(tree.cacheFile, "sni.map")!).mode & 0o777).toBe(0o600);
    const second = await run(tree);
    expect(second.unchanged).toBe(true);
    expect(second.dbInode).toBe(first.dbInode);
    expect(second.lines).toEqual([
      `mailcow-postfix-init: sni-map: 3 names mapped (2 from the default certificate, 1 from 1 directory); 0 errors, 0 warnings -> ${tree.confDir}/sni.map ${UNCHANGED}`,
    ]);
  }, 30_000);

  test("a certificate renewed in place (same path, new content) is built and embedded", async () => {
    const tree = await settledTree();
    await run(tree);
    const renewed = makeCertificate(join(tree.sslDir, "other.example.test"), { names: ["other.example.test"] });
    const after = await run(tree);
    expect(after.unchanged).toBe(false);
    // The record vouches for the table in place: only the renewed name is written.
    expect(after.lines.join("\n")).toContain("(sni.map.db updated in place: 1 name written, 0 removed)");
    expect(embeddedCertificate(tree.confDir, "other.example.test")).toBe(readFileSync(renewed.certFile, "utf8"));
  }, 30_000);

  test("the default key and certificate replaced by copies of another pair: built", async () => {
    const tree = await settledTree();
    await run(tree);
    copyFileSync(tree.other.certFile, tree.defaultCert.certFile);
    copyFileSync(tree.other.keyFile, tree.defaultCert.keyFile);
    const after = await run(tree);
    expect(after.unchanged).toBe(false);
    expect(embeddedCertificate(tree.confDir, "other.example.test")).toBe(readFileSync(tree.other.certFile, "utf8"));
  }, 30_000);

  test("sni.map.db rebuilt by someone else (stock's postmap on the same volume): built again, not trusted", async () => {
    const tree = await settledTree();
    const first = await run(tree);
    const stock = Bun.spawnSync(["postmap", "-c", tree.confDir, "-F", `hash:${tree.confDir}/sni.map`]);
    expect(stock.exitCode).toBe(0);
    const after = await run(tree);
    expect(after.unchanged).toBe(false);
    expect(after.dbInode).not.toBe(first.dbInode);
  }, 30_000);

  test("sni.map edited by hand with the .db left alone: built again", async () => {
    const tree = await settledTree();
    await run(tree);
    const mapFile = join(tree.confDir, "sni.map");
    writeFileSync(mapFile, readFileSync(mapFile, "utf8").split("\n").slice(1).join("\n"));
    const after = await run(tree);
    expect(after.unchanged).toBe(false);
    expect(readFileSync(mapFile, "utf8").split("\n").filter(Boolean).length).toBe(3);
  }, 30_000);

  test("a new certificate directory: built, its name in the table", async () => {
    const tree = await settledTree();
    await run(tree);
    const added = makeCertificateDirectory(tree.sslDir, "new.example.test", ["new.example.test"]);
    const after = await run(tree);
    expect(after.unchanged).toBe(false);
    expect(embeddedCertificate(tree.confDir, "new.example.test")).toBe(readFileSync(added.certFile, "utf8"));
  }, 30_000);

  test("a damaged record is no record: built, and recorded again", async () => {
    const tree = await settledTree();
    await run(tree);
    writeFileSync(tableRecordFileFor(tree.cacheFile, "sni.map")!, "{not json");
    // The run record (sni/run-record.ts) would replay the last run without looking at the
    // table record: without it, the run looks.
    rmSync(runRecordFileFor(tree.cacheFile)!);
    expect((await run(tree)).unchanged).toBe(false);
    expect((await run(tree)).unchanged).toBe(true);
  }, 30_000);

  test("a certificate renewed just before the run is recorded by its content: the next run keeps the table", async () => {
    const tree = await settledTree();
    await run(tree);
    makeCertificate(join(tree.sslDir, "other.example.test"), { names: ["other.example.test"] });
    expect((await run(tree)).unchanged).toBe(false);
    expect((await run(tree)).unchanged).toBe(true);
  }, 30_000);

  test("without a cache file (sni-map outside a container), every run builds", async () => {
    const tree = await settledTree();
    const log = createMemoryLogger();
    const options = { tools: testTools(), sslDir: tree.sslDir, confDir: tree.confDir, hostname: "mail.example.test", log };
    await updateSniMap(options);
    const inode = statSync(join(tree.confDir, "sni.map.db")).ino;
    await updateSniMap(options);
    expect(statSync(join(tree.confDir, "sni.map.db")).ino).not.toBe(inode);
    expect(log.lines.some((line) => line.endsWith(UNCHANGED))).toBe(false);
    // Nothing to record, and nothing said about it.
    expect(log.lines.filter((line) => !line.includes("sni-map: 3 names mapped"))).toEqual([]);
  }, 30_000);
});

describe("the record itself", () => {
  const tempDir = tempDirs("mpi-table-record-");
  const warningLog = () => ({ warn: (line: string) => void warnings.push(line) });
  const warnings: string[] = [];
  /** A file dated two seconds back, so it counts as settled before a build starting now. */
  const settledFile = (dir: string, name: string, content = name) => {
    const path = join(dir, name);
    writeFileSync(path, content);
    const past = new Date(Date.now() - 2_000);
    utimesSync(path, past, past);
    return path;
  };

  test("kept beside the cache file, one per table, and only where there is a cache file", () => {
    expect(tableRecordFileFor("/spool/.mailcow-postfix-init/sni-validation-cache.json", "sni.map")).toBe(
      "/spool/.mailcow-postfix-init/sni.map.table.json",
    );
    expect(tableRecordFileFor("/spool/.mailcow-postfix-init/sni-validation-cache.json", "aliases")).toBe(
      "/spool/.mailcow-postfix-init/aliases.table.json",
    );
    expect(tableRecordFileFor(undefined, "sni.map")).toBeUndefined();
  });

  test("saved after a build, current while nothing changes; a changed input or output makes it stale", async () => {
    const dir = tempDir();
    const input = settledFile(dir, "cert.pem");
    const output = settledFile(dir, "sni.map.db");
    const file = join(dir, "record", "sni.map.table.json");
    expect(saveTableRecord(file, snapshotIdentities([input]), [output], warningLog())).toBe(true);
    const record = readTableRecord(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(tableIsCurrent(record, snapshotIdentities([input]), [output])).toBe(true);
    expect(tableIsCurrent(record, snapshotIdentities([input, join(dir, "new.pem")]), [output])).toBe(false);
    writeFileSync(output, "touched");
    expect(tableIsCurrent(record, snapshotIdentities([input]), [output])).toBe(false);
  });

  test("nothing is recorded for a missing input", () => {
    const dir = tempDir();
    const output = settledFile(dir, "aliases.db");
    const file = join(dir, "aliases.table.json");
    expect(saveTableRecord(file, snapshotIdentities([join(dir, "missing")]), [output], warningLog())).toBe(false);
    expect(existsSync(file)).toBe(false);
  });

  test("a record of another version, a damaged one or a forgotten one reads as none", () => {
    const dir = tempDir();
    const file = join(dir, "sni.map.table.json");
    writeFileSync(file, JSON.stringify({ version: 999, inputsDigest: "x", outputs: {} }));
    expect(readTableRecord(file)).toBeUndefined();
    // A record of the previous format (inputs in the record itself, no digest over them).
    writeFileSync(file, JSON.stringify({ version: 1, inputs: {}, outputs: {} }));
    expect(readTableRecord(file)).toBeUndefined();
    writeFileSync(file, `${JSON.stringify({ version: 2, inputsDigest: 1, outputs: {} })}\n{}\n`);
    expect(readTableRecord(file)).toBeUndefined();
    writeFileSync(file, `${JSON.stringify({ version: 2, inputsDigest: "x", outputs: { a: 1 } })}\n{}\n`);
    expect(readTableRecord(file)).toBeUndefined();
    writeFileSync(file, `${JSON.stringify({ version: 2, inputsDigest: "x", outputs: {} })}\n{"a.test /k /c":"sha256:1"}\n`);
    expect(readTableRecord(file)?.inputs()).toEqual({ "a.test /k /c": "sha256:1" });
    // Damaged inputs: read as none (a full build), never as a record of other names.
    writeFileSync(file, `${JSON.stringify({ version: 2, inputsDigest: "x", outputs: {} })}\n{"a.test": 1}\n`);
    expect(readTableRecord(file)?.inputs()).toEqual({});
    forgetTableRecord(file);
    expect(readTableRecord(file)).toBeUndefined();
    expect(tableIsCurrent(undefined, new Map(), [])).toBe(false);
    expect(warnings).toEqual([]);
  });
});
