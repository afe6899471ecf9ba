import { expect, test } from "bun:test";
import { readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openPairCache, saveJudgements } from "../../../src/sni/cache.ts";
import { planSniMapFromTree } from "../../../src/sni/index.ts";
import { createMemoryLogger } from "../../../src/log.ts";
import { mailTrees } from "../../support/fixture.ts";

// The cache file's life (cache.ts): rewritten only when the judgements changed, a file of
// another version or shape ignored (everything judged again), a failed save one warning.
// Found by mutation testing: cache.test.ts never looked at when the file is written.

const mailTree = mailTrees("mpi-cache-file-");

function setup(dirs: Record<string, string[]> = { "example.org": ["example.org"], "example.net": ["example.net"] }) {
  const tree = mailTree({ defaultNames: ["mail.example.test"], certificateDirs: dirs, mainCf: null });
  const file = join(tree.root, "cache", "sni-validation-cache.json");
  const run = (path: string | undefined = file) => {
    const cache = openPairCache(path);
    planSniMapFromTree({ sslDir: tree.sslDir, hostname: "mail.example.test", cache });
    const log = createMemoryLogger();
    saveJudgements(cache, path, log);
    return { hits: cache.hits, misses: cache.misses, warnings: log.lines };
  };
  return { ...tree, file, run };
}
const identity = (path: string) => {
  const stat = statSync(path);
  return `${stat.ino}:${stat.mtimeMs}`;
};

test("an unchanged tree does not rewrite the file; a new or a removed source does", () => {
  const { sslDir, file, run } = setup();
  expect(run()).toMatchObject({ hits: 0, misses: 3 });
  expect(statSync(file).mode & 0o777).toBe(0o600);
  const written = identity(file);
  expect(run()).toMatchObject({ hits: 3, misses: 0 });
  expect(identity(file)).toBe(written);
  rmSync(join(sslDir, "example.net"), { recursive: true });
  expect(run()).toMatchObject({ hits: 2, misses: 0 });
  expect(identity(file)).not.toBe(written);
  expect(Object.keys(JSON.parse(readFileSync(file, "utf8")).entries)).toHaveLength(2);
});

test("a file of another version, of another program, without entries, or not JSON: everything judged again", () => {
  const { file, run } = setup();
  run();
  const saved = JSON.parse(readFileSync(file, "utf8"));
  const { version, program } = saved;
  for (const content of [
    JSON.stringify({ ...saved, version: version + 1 }),
    // Another build (an update's new binary, often on a new OpenSSL) may judge otherwise.
    JSON.stringify({ ...saved, program: `${program}:another` }),
    JSON.stringify({ version, program }),
    JSON.stringify({ version, program, entries: null }),
    JSON.stringify({ version, program, entries: "x" }),
    "{not json",
  ]) {
    writeFileSync(file, content);
    expect([content.slice(0, 20), run().misses]).toEqual([content.slice(0, 20), 3]);
  }
  expect(run()).toMatchObject({ hits: 3, misses: 0 });
});

test("a cache that cannot be saved is one warning naming it; the run goes on", () => {
  const { root, run } = setup();
  writeFileSync(join(root, "not-a-dir"), "");
  const path = join(root, "not-a-dir", "cache.json");
  const result = run(path);
  expect(result.warnings).toHaveLength(1);
  expect(result.warnings[0]).toStartWith(`mailcow-postfix-init: warning: could not save the validation cache ${path}: `);
});
