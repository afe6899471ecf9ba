import { afterAll, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { planApply, writeApply, type ApplyOptions, type ApplyState } from "../../../src/watch/apply.ts";
import { makeCertificate, makeCertificateDirectory } from "../../support/certs.ts";
import { testTools } from "../../support/postfix-tools.ts";
import { writeSettledFile } from "../../support/tmp.ts";
import { makeWatchTree } from "../../support/watch-tree.ts";

// docs/watch.md, "What it does": an apply plans the map from the tree, writes sni.map.db only
// when the table differs from the one in place, and reloads Postfix only after a rebuild that
// is not the first; a problem in the tree is logged when it appears, not at every apply.
// Real certificates, real postmap and postconf; `postfix reload` is the test's stand-in.

const cleanups: (() => void)[] = [];
afterAll(() => {
  for (const cleanup of cleanups) cleanup();
});

function setUp(name: string) {
  const tree = makeWatchTree(`mpi-apply-${name}-`);
  const { root, confDir } = { root: tree.temp.path, confDir: tree.confDir };
  cleanups.push(tree.temp.cleanup);
  // master -t looks for master.pid under this queue: none runs there.
  mkdirSync(join(root, "queue"));
  writeSettledFile(join(confDir, "main.cf"), `queue_directory = ${join(root, "queue")}\n`);
  makeCertificateDirectory(tree.sslDir, "b.example.test", ["b.example.test"]);
  const options = tree.options;
  let state: ApplyState = { lastGood: new Map(), judged: new Map() };
  const apply = async (over: Partial<ApplyOptions> = {}) => {
    const planned = planApply({ ...options, ...over }, state);
    const { outcome, next } = await writeApply(planned, { ...options, ...over }, state);
    state = next;
    return { outcome, planned };
  };
  return { ...tree, root, apply, state: () => state };
}

const mapped = (confDir: string) => readFileSync(join(confDir, "sni.map"), "utf8");

test("the first apply builds the table without a reload; the same tree again writes and reloads nothing", async () => {
  const { confDir, reloads, apply, sslDir } = setUp("first");
  const first = await apply();
  expect(first.outcome).toMatchObject({ rebuilt: true, reloaded: false, changedNames: undefined, names: 3 });
  expect(existsSync(join(confDir, "sni.map.db"))).toBe(true);
  expect(mapped(confDir)).toContain(`a.example.test ${join(sslDir, "a.example.test", "key.pem")}`);
  const again = await apply();
  expect(again.outcome).toMatchObject({ rebuilt: false, reloaded: false, names: 3 });
  expect(reloads).toEqual([]);
});

test("a renewed pair rebuilds the table and reloads Postfix, naming the one name that changed", async () => {
  const { confDir, reloads, apply, sslDir } = setUp("renewed");
  await apply();
  const renewed = makeCertificate(join(sslDir, "..", "renewal"), { names: ["a.example.test"] });
  copyFileSync(renewed.keyFile, join(sslDir, "a.example.test", "key.pem"));
  copyFileSync(renewed.certFile, join(sslDir, "a.example.test", "cert.pem"));
  const { outcome } = await apply();
  expect(outcome).toMatchObject({ rebuilt: true, reloaded: true, changedNames: ["a.example.test"], names: 3 });
  expect(reloads).toEqual([confDir]);
});

test("a table changed behind the watcher's back is rebuilt, though the tree is the same", async () => {
  const { confDir, reloads, apply } = setUp("tampered");
  await apply();
  const before = readFileSync(join(confDir, "sni.map.db"));
  rmSync(join(confDir, "sni.map.db"));
  writeFileSync(join(confDir, "sni.map.db"), before);
  const { outcome } = await apply();
  expect(outcome).toMatchObject({ rebuilt: true, reloaded: true, changedNames: [] });
  expect(reloads).toHaveLength(1);
  const sameText = await apply();
  expect(sameText.outcome.rebuilt).toBe(false);
  writeFileSync(join(confDir, "sni.map"), `${mapped(confDir)}# edited\n`);
  expect((await apply()).outcome.rebuilt).toBe(true);
});

test("a watcher started on a table an earlier build left in place checks it and writes nothing", async () => {
  const { apply, options, reloads, root } = setUp("restart");
  // The table record of the last build sits beside the pair cache (as in the image).
  const withCache = { ...options, cacheFile: join(root, "sni-cache.json") };
  await apply({ cacheFile: withCache.cacheFile });
  const fresh: ApplyState = { lastGood: new Map(), judged: new Map() };
  const planned = planApply(withCache, fresh);
  const { outcome } = await writeApply(planned, withCache, fresh);
  expect(outcome).toMatchObject({ rebuilt: false, reloaded: false });
  expect(reloads).toEqual([]);
});

test("problems: the first apply counts those the start logged, later ones are logged once when they appear", async () => {
  const { apply, sslDir, log, a } = setUp("problems");
  writeFileSync(join(sslDir, "b.example.test", "key.pem"), "not a key\n");
  const first = await apply();
  expect(first.outcome.unlogged).toBe(1);
  expect(log.lines).toEqual([]);
  // A second broken directory: its line is logged once; the first is not repeated.
  writeFileSync(join(sslDir, "a.example.test", "key.pem"), "not a key either\n");
  const second = await apply();
  expect(second.outcome.unlogged).toBeUndefined();
  expect(log.lines).toHaveLength(1);
  expect(log.lines[0]).toContain(join(sslDir, "a.example.test"));
  await apply();
  expect(log.lines).toHaveLength(1);
  // Fixed and broken again: new, so said again.
  copyFileSync(a.keyFile.replace("key.pem", "cert.pem"), join(sslDir, "a.example.test", "cert.pem"));
  makeCertificateDirectory(sslDir, "a.example.test", ["a.example.test"]);
  await apply();
  writeFileSync(join(sslDir, "a.example.test", "key.pem"), "not a key either\n");
  await apply();
  expect(log.lines.filter((line) => line.includes(join(sslDir, "a.example.test")))).toHaveLength(2);
});

test("a reload that fails while Postfix is not running: one line saying it loads the table when it starts", async () => {
  const { apply, sslDir, log } = setUp("stopped");
  await apply();
  makeCertificateDirectory(sslDir, "c.example.test", ["c.example.test"]);
  const failing = async () => {
    throw new Error("postfix reload: the Postfix mail system is not running");
  };
  const { outcome } = await apply({ reload: failing });
  expect(outcome).toMatchObject({ rebuilt: true, reloaded: false, changedNames: ["c.example.test"] });
  expect(log.lines).toEqual([expect.stringContaining("watch: Postfix is not running (yet); it loads the new sni.map.db when it starts")]);
});

test("without a stand-in it is `postfix reload`: with Postfix not running, the table is rebuilt and the line says it loads it when it starts", async () => {
  const { apply, sslDir, log } = setUp("real-reload");
  const real = { reload: undefined };
  await apply(real);
  makeCertificateDirectory(sslDir, "c.example.test", ["c.example.test"]);
  const { outcome } = await apply(real);
  expect(outcome).toMatchObject({ rebuilt: true, reloaded: false, changedNames: ["c.example.test"] });
  expect(log.lines).toEqual([expect.stringContaining("watch: Postfix is not running (yet); it loads the new sni.map.db when it starts")]);
});

test("a directory renamed with the same pair and names is rebuilt: the map names the files where they now are", async () => {
  const { apply, sslDir, confDir } = setUp("renamed");
  await apply();
  renameSync(join(sslDir, "b.example.test"), join(sslDir, "b-renewed"));
  const { outcome } = await apply();
  expect(outcome).toMatchObject({ rebuilt: true, changedNames: [] });
  expect(mapped(confDir)).toContain(join(sslDir, "b-renewed", "key.pem"));
});

test("a reload that fails for another reason is a warning with the reason; the table stays rebuilt", async () => {
  const { apply, sslDir, log } = setUp("reload-fails");
  await apply();
  makeCertificateDirectory(sslDir, "c.example.test", ["c.example.test"]);
  const failing = async () => {
    throw new Error("reload refused by the stand-in");
  };
  // postconf failing: whether master runs cannot be told, so it is not assumed stopped.
  const { outcome } = await apply({ reload: failing, tools: testTools({ programs: { postconf: "/bin/false" } }) });
  expect(outcome).toMatchObject({ rebuilt: true, reloaded: false });
  expect(log.lines).toEqual([expect.stringContaining("sni.map.db is rebuilt but postfix reload failed: reload refused by the stand-in")]);
});
