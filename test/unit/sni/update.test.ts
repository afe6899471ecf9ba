import { expect, test } from "bun:test";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createMemoryLogger } from "../../../src/log.ts";
import { runRecordFileFor } from "../../../src/sni/run-record.ts";
import { updateSniMap } from "../../../src/sni/update.ts";
import { makeCertificate, makeCertificateDirectory } from "../../support/certs.ts";
import { testTools } from "../../support/postfix-tools.ts";
import { embeddedCertificate, sniRuns } from "../../support/sni-runs.ts";

// sni-map's run (update.ts) as its callers see it: the summary line says how the table was
// changed, and a build that fails is the caller's error, reported once; the record of the run
// before it (run-record.ts) does not outlive a run that did its work and could not record it.

const { settledTree, run } = sniRuns("mpi-update-");

test("a build updated in place says how many names it wrote and removed, one name or several", async () => {
  const tree = await settledTree({
    "a.example.test": ["a.example.test"],
    "b.example.test": ["b.example.test"],
    "c.example.test": ["c.example.test"],
    "d.example.test": ["d.example.test"],
  });
  await run(tree);
  makeCertificate(join(tree.sslDir, "a.example.test"), { names: ["a.example.test"], days: 30 });
  expect((await run(tree)).lines.at(-1)).toEndWith(" (sni.map.db updated in place: 1 name written, 0 removed)");
  makeCertificateDirectory(tree.sslDir, "a.example.test", ["a.example.test", "a2.example.test"]);
  rmSync(join(tree.sslDir, "b.example.test"), { recursive: true });
  expect((await run(tree)).lines.at(-1)).toEndWith(" (sni.map.db updated in place: 2 names written, 1 removed)");
  expect(embeddedCertificate(tree.confDir, "a2.example.test")).toBeDefined();
  expect(embeddedCertificate(tree.confDir, "b.example.test")).toBeUndefined();
}, 30_000);

test("a full build's summary ends with the map file", async () => {
  const tree = await settledTree();
  expect((await run(tree)).lines.at(-1)).toEndWith(` -> ${join(tree.confDir, "sni.map")}`);
}, 30_000);

test("a build that fails is thrown to the caller, not logged and tried again, and leaves no record of the run before it", async () => {
  const tree = await settledTree();
  await run(tree);
  makeCertificate(join(tree.sslDir, "other.example.test"), { names: ["other.example.test"], days: 30 });
  const log = createMemoryLogger();
  const failing = join(tree.root, "postmap");
  writeFileSync(failing, "#!/bin/sh\necho 'postmap: fatal: out of luck' >&2\nexit 1\n", { mode: 0o755 });
  const build = updateSniMap({
    tools: testTools({ programs: { postmap: failing } }),
    sslDir: tree.sslDir,
    confDir: tree.confDir,
    hostname: "mail.example.test",
    log,
    cacheFile: tree.cacheFile,
  });
  await expect(build).rejects.toThrow(/out of luck/);
  expect(log.lines.filter((line) => line.includes("out of luck"))).toEqual([]);
  expect(log.lines.filter((line) => line.includes(": warning: "))).toEqual([]);
  expect(existsSync(runRecordFileFor(tree.cacheFile)!)).toBe(false);
}, 30_000);

test("a renewal that changed no directory and no domains file takes discovery's result from the run record, not from the SSL dir", async () => {
  const tree = await settledTree();
  await run(tree);
  await Bun.sleep(120);
  // Marked so the run shows where its discovery came from: a note only the record holds.
  const file = runRecordFileFor(tree.cacheFile)!;
  const record = JSON.parse(readFileSync(file, "utf8"));
  record.discovery.notes.push("a note only the record holds");
  writeFileSync(file, JSON.stringify(record));
  makeCertificate(join(tree.sslDir, "other.example.test"), { names: ["other.example.test"], days: 30 });
  const renewed = await run(tree);
  expect(renewed.replayed).toBe(false);
  expect(renewed.lines.some((line) => line.endsWith("a note only the record holds"))).toBe(true);
  expect(embeddedCertificate(tree.confDir, "other.example.test")).toBe(
    readFileSync(join(tree.sslDir, "other.example.test", "cert.pem"), "utf8"),
  );
}, 30_000);
