import { afterAll, expect, test } from "bun:test";
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createMemoryLogger } from "../../../src/log.ts";
import { openPairCache } from "../../../src/sni/cache.ts";
import { collectCertificateSources } from "../../../src/sni/discover.ts";
import { EmbeddedValueChanged, embeddedBytes } from "../../../src/sni/embedded.ts";
import { runRecordFileFor } from "../../../src/sni/run-record.ts";
import { updateSniMap } from "../../../src/sni/update.ts";
import { validateSource } from "../../../src/sni/validate.ts";
import { makeCertificate, makeCertificateDirectory } from "../../support/certs.ts";
import { mailTrees } from "../../support/fixture.ts";
import { testTools } from "../../support/postfix-tools.ts";
import { makeTempDir } from "../../support/tmp.ts";

// A source whose files keep the identities they had when they were last read whole is not
// read again (validate.ts, cache.ts); the bytes of its value are read when a build needs them,
// and embedded only when they are the bytes that were judged (embedded.ts). Should they differ
// (an identity that lied), the run starts over reading every file.

const temp = makeTempDir("mpi-embedded-");
const mailTree = mailTrees("mpi-embedded-tree-");
afterAll(() => temp.cleanup());

const NAME = "other.example.test";
let counter = 0;

async function tree() {
  const sslDir = join(temp.path, `ssl-${++counter}`);
  makeCertificate(sslDir, { names: ["mail.example.test"] });
  const pair = makeCertificateDirectory(sslDir, NAME, [NAME]);
  await Bun.sleep(120); // older than the racy margin (50 ms)
  const source = () => collectCertificateSources(sslDir).sources.find((found) => found.dir === pair.dir)!;
  return { sslDir, pair, source };
}

/** key.pem, "\n", cert.pem: the value postmap -F embeds for the pair's names. */
const joined = (pair: { keyFile: string; certFile: string }) =>
  Buffer.concat([readFileSync(pair.keyFile), Buffer.from("\n"), readFileSync(pair.certFile)]);

test("a source whose files keep their identities is not read again; its bytes are read when needed and are the ones judged", async () => {
  const { pair, source } = await tree();
  const cacheFile = join(temp.path, `cache-${counter}.json`);
  const first = openPairCache(cacheFile);
  const read = validateSource(source(), new Date(), first).validated;
  expect(read.value?.bytes && Buffer.from(read.value.bytes).equals(joined(pair))).toBe(true);
  first.save();
  const again = validateSource(source(), new Date(), openPairCache(cacheFile)).validated;
  expect(again.usable).toBe(true);
  expect(again.value?.bytes).toBeUndefined();
  expect(again.value?.digest).toBe(read.value!.digest);
  const entry = { name: NAME, sourceDir: pair.dir, files: [pair.keyFile, pair.certFile], value: again.value! };
  expect(Buffer.from(embeddedBytes(entry)).equals(joined(pair))).toBe(true);
  // Renewed: a new identity, so read and judged again.
  makeCertificate(pair.dir, { names: [NAME], days: 30 });
  await Bun.sleep(120);
  const renewed = validateSource(source(), new Date(), openPairCache(cacheFile)).validated;
  expect(renewed.value?.bytes && Buffer.from(renewed.value.bytes).equals(joined(pair))).toBe(true);
});

test("files changed less than a clock tick or two before they were read are not remembered: the next run reads them again", async () => {
  const { pair, source } = await tree();
  // A mode change just before the read: ctime is new, mtime old (no settling wait). Only a
  // trial whose read began within the 50 ms margin says anything (a loaded machine may pause).
  for (let trial = 1; ; trial++) {
    const cacheFile = join(temp.path, `cache-${counter}-${trial}.json`);
    const changed = Date.now();
    chmodSync(pair.keyFile, trial % 2 === 0 ? 0o600 : 0o640);
    const cache = openPairCache(cacheFile);
    expect(validateSource(source(), new Date(), cache).validated.usable).toBe(true);
    if (Date.now() - changed > 40 && trial < 10) continue;
    cache.save();
    expect(validateSource(source(), new Date(), openPairCache(cacheFile)).validated.value?.bytes).toBeDefined();
    return;
  }
});

test("bytes that are not the judged ones are refused, never embedded", async () => {
  const { pair, source } = await tree();
  const validated = validateSource(source(), new Date()).validated;
  const entry = { name: NAME, sourceDir: pair.dir, files: [pair.keyFile, pair.certFile], value: { ...validated.value!, bytes: undefined } };
  makeCertificate(pair.dir, { names: [NAME], days: 30 });
  expect(() => embeddedBytes(entry)).toThrow(EmbeddedValueChanged);
});

test("a remembered identity that lies: one warning, every file read again, the table holds the files' bytes", async () => {
  const { root, sslDir, confDir, dirs } = mailTree({ certificateDirs: { [NAME]: [NAME] } });
  const pair = dirs[NAME]!;
  // A note (a hidden directory) and a problem (an unreadable pair): each logged once, whatever the restart.
  mkdirSync(join(sslDir, ".old.example.test"));
  writeFileSync(join(sslDir, ".old.example.test", "cert.pem"), "old\n");
  makeCertificateDirectory(sslDir, "soon.example.test", ["soon.example.test"], { days: 10 });
  await Bun.sleep(120);
  const cacheFile = join(root, "spool", "cache.json");
  const run = async () => {
    const log = createMemoryLogger();
    await updateSniMap({ tools: testTools(), sslDir, confDir, hostname: "mail.example.test", log, cacheFile });
    return log.lines;
  };
  await run();
  // Every remembered identity now vouches for other bytes; a full build (no table in place)
  // needs every value.
  const saved = JSON.parse(readFileSync(cacheFile, "utf8")) as { identities: Record<string, { digest?: string }> };
  for (const content of Object.values(saved.identities)) if (content.digest) content.digest = `sha256:${"0".repeat(64)}`;
  writeFileSync(cacheFile, JSON.stringify(saved));
  rmSync(join(confDir, "sni.map.db"));
  rmSync(runRecordFileFor(cacheFile)!);
  const lines = await run();
  expect(lines.filter((line) => line.includes("changed without a new file identity"))).toHaveLength(1);
  expect(lines.filter((line) => line.includes(".old.example.test"))).toHaveLength(1);
  expect(lines.filter((line) => line.includes("soon.example.test") && line.includes("expires in"))).toHaveLength(1);
  expect(lines.at(-1)).toContain("4 names mapped");
  const query = Bun.spawnSync(["postmap", "-c", confDir, "-q", NAME, `hash:${confDir}/sni.map`]);
  expect(Buffer.from(query.stdout.toString().trim(), "base64").equals(joined(pair))).toBe(true);
});
