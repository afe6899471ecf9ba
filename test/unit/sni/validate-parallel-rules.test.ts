import { describe, expect, test } from "bun:test";
import { appendFileSync, copyFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { openPairCache, type PairCache } from "../../../src/sni/cache.ts";
import { collectCertificateSources } from "../../../src/sni/discover.ts";
import type { CertificateSource } from "../../../src/sni/types.ts";
import { validateOnAllCores, type ParallelOptions, type Validation } from "../../../src/sni/validate-parallel.ts";
import { mailTrees, tempDirs } from "../../support/fixture.ts";
import { bytesRead, comparable, fillPoolTree } from "../../support/pool-tree.ts";

// When validation takes worker threads, how it shares the work, and that a worker that fails
// costs only time (validate-parallel.ts): with a cache that remembers judgements, the first 64
// sources are validated here and workers start only when more than a quarter of those needed
// judging; without one every pair is judged and workers start at once; either way only with
// at least 128 sources per thread left, and then every thread takes batches of 16 as it goes.
// Real pairs, real OpenSSL.

const mailTree = mailTrees("mpi-parallel-rules-");
const tempDir = tempDirs("mpi-parallel-rules-cache-");
const NOW = new Date();

/** A settled tree of SOURCES sources (the default pair and SOURCES - 1 directories). */
async function sourcesTree(sources: number) {
  const tree = fillPoolTree(mailTree(), sources - 1);
  await Bun.sleep(120); // older than the judge's settle time and the cache's racy margin
  return { tree, sources: collectCertificateSources(tree.sslDir).sources };
}

async function validate(sources: readonly CertificateSource[], cache: PairCache | undefined, options: ParallelOptions = {}) {
  const warnings: string[] = [];
  const used = { workerAnswers: 0, workerSources: 0, reclaimedSources: 0 };
  const results = await validateOnAllCores(sources, NOW, cache, { log: { warn: (line) => warnings.push(line) }, used, ...options });
  return { results, warnings, used };
}

function expectSameAs(results: readonly Validation[], one: readonly Validation[]) {
  expect(comparable(results)).toEqual(comparable(one));
  expect(bytesRead(results)).toEqual(bytesRead(one));
}

describe("when workers start", () => {
  test("without a cache every pair is judged: no probe, all sources shared between this thread and a worker, in batches of 16", async () => {
    const { sources: all } = await sourcesTree(64 + 2 * 128);
    const sources = all.slice(0, 2 * 128);
    const one = await validate(sources, undefined, { threads: 1 });
    expect(one.used).toEqual({ workerAnswers: 0, workerSources: 0, reclaimedSources: 0 });
    const two = await validate(sources, undefined, { threads: 2 });
    expect([two.used.workerAnswers, two.used.reclaimedSources, two.warnings]).toEqual([1, 0, []]);
    // Whole batches: however many the worker took before this thread had taken the rest.
    expect(two.used.workerSources % 16).toBe(0);
    expect(two.used.workerSources).toBeLessThanOrEqual(256);
    expectSameAs(two.results, one.results);
    // One source fewer: fewer than 128 for each of two threads, so no worker.
    const fewer = await validate(sources.slice(0, -1), undefined, { threads: 2 });
    expect(fewer.used).toEqual({ workerAnswers: 0, workerSources: 0, reclaimedSources: 0 });
    expectSameAs(fewer.results, one.results.slice(0, -1));
    // A cache that remembers nothing (a first start) is the same: no probe.
    const empty = await validate(sources, openPairCache(join(tempDir(), "none.json")), { threads: 2 });
    expect(empty.used.workerAnswers).toBe(1);
    const emptyFewer = await validate(sources.slice(0, -1), openPairCache(join(tempDir(), "none.json")), { threads: 2 });
    expect(emptyFewer.used.workerAnswers).toBe(0);
  }, 60_000);

  test("a worker that starts late takes fewer batches, not the same half: the threads finish together", async () => {
    // 64 + 2 x 512 sources: this thread starts at once; the worker ~10-100 ms later, with colder code.
    const { sources } = await sourcesTree(64 + 2 * 512);
    const one = await validate(sources, undefined, { threads: 1 });
    const two = await validate(sources, undefined, { threads: 2 });
    expect([two.used.workerAnswers, two.used.reclaimedSources, two.warnings]).toEqual([1, 0, []]);
    // Each thread took batches as it went (fixed halves would give the worker exactly 512).
    expect(two.used.workerSources).toBeGreaterThan(0);
    expect(two.used.workerSources).toBeLessThan(1024);
    expectSameAs(two.results, one.results);
  }, 120_000);

  test("with a cache: a worker only when more than a quarter of the first 64 sources needed judging", async () => {
    const { sources } = await sourcesTree(64 + 2 * 128);
    const cacheFile = join(tempDir(), "cache.json");
    const primed = openPairCache(cacheFile);
    await validate(sources, primed, { threads: 1 });
    primed.save();
    // Sources 1..N (directories among the first 64) changed: each needs judging again.
    const change = (from: number, to: number) => {
      for (const source of sources.slice(from, to)) appendFileSync(source.main.certFile, "\n");
    };
    change(1, 17);
    await Bun.sleep(120);
    const sixteen = await validate(sources, openPairCache(cacheFile), { cacheFile, threads: 2 });
    expect(sixteen.used.workerAnswers).toBe(0);
    change(17, 18);
    await Bun.sleep(120);
    const seventeen = await validate(sources, openPairCache(cacheFile), { cacheFile, threads: 2 });
    expect([seventeen.used.workerAnswers, seventeen.warnings]).toEqual([1, []]);
    const without17 = (results: Validation[]) => results.filter((_, index) => index !== 17);
    expectSameAs(without17(seventeen.results), without17(sixteen.results));
  }, 60_000);
});

describe("what workers take from the cache file", () => {
  /**
   * A tree of 400 directories whose cache file knows the sources from the 300th on: the worker's
   * slice (from the 233rd) holds sources it reads and sources it recalls.
   */
  async function primedTree() {
    const { sources } = await sourcesTree(401);
    const dir = tempDir();
    const cacheFile = join(dir, "primed.json");
    const primed = openPairCache(cacheFile);
    await validate(sources.slice(300), primed, { threads: 1 });
    primed.save();
    const copy = (name: string) => {
      copyFileSync(cacheFile, join(dir, name));
      return join(dir, name);
    };
    return { sources, copy };
  }

  test("with a cache that recalls unchanged files, workers recall them too, and the cache is saved as one thread saves it", async () => {
    const { sources, copy } = await primedTree();
    const [oneFile, twoFile] = [copy("one.json"), copy("two.json")];
    const oneCache = openPairCache(oneFile);
    const one = await validate(sources, oneCache, { cacheFile: oneFile, threads: 1 });
    const twoCache = openPairCache(twoFile);
    const two = await validate(sources, twoCache, { cacheFile: twoFile, threads: 2 });
    expect([two.used.workerAnswers, two.warnings]).toEqual([1, []]);
    expect(bytesRead(one.results).filter((read) => !read).length).toBeGreaterThan(100); // recalled, not read
    expectSameAs(two.results, one.results);
    oneCache.save();
    twoCache.save();
    const saved = (file: string) => {
      const { entries, identities } = JSON.parse(readFileSync(file, "utf8")) as { entries: object; identities: object };
      return { entries, identities };
    };
    expect(saved(twoFile)).toEqual(saved(oneFile));
  }, 60_000);

  test("with a cache that does not recall (the watcher's), workers read every file, as this thread does", async () => {
    const { sources, copy } = await primedTree();
    const judgeOnly = (file: string): PairCache => {
      const persistent = openPairCache(file);
      return { judge: (key, judge) => persistent.judge(key, judge) };
    };
    const oneFile = copy("one.json");
    const one = await validate(sources, judgeOnly(oneFile), { cacheFile: oneFile, threads: 1 });
    const twoFile = copy("two.json");
    const two = await validate(sources, judgeOnly(twoFile), { cacheFile: twoFile, threads: 2 });
    expect([two.used.workerAnswers, two.warnings]).toEqual([1, []]);
    expectSameAs(two.results, one.results);
    expect(bytesRead(two.results).filter((read) => read).length).toBeGreaterThan(300);
  }, 60_000);
});

test("what a worker is asked: every source after the probe, batches of 16, the cache file, and to recall only when the cache recalls", async () => {
  const { sources } = await sourcesTree(2 * 128);
  const worker = new URL("../../support/stand-in-workers/tells-request.ts", import.meta.url).href;
  const cacheFile = join(tempDir(), "cache.json");
  const asked = async (cache: PairCache) => {
    const run = await validate(sources, cache, { cacheFile, threads: 2, worker });
    expect([run.used.workerAnswers, run.used.workerSources, run.warnings]).toEqual([1, 0, []]);
    const { now, ...request } = JSON.parse(readFileSync(`${cacheFile}.request`, "utf8")) as { now: number };
    expect(now).toBe(NOW.getTime());
    return request;
  };
  const recalling = openPairCache(cacheFile);
  expect(await asked(recalling)).toEqual({ batch: 16, cacheFile, recall: true, sources: 256, claims: 4 });
  // The watcher's cache judges and remembers but does not recall: neither do its workers.
  const judgeOnly: PairCache = { judge: (key, judge) => recalling.judge(key, judge), empty: true };
  expect(await asked(judgeOnly)).toEqual({ batch: 16, cacheFile, recall: false, sources: 256, claims: 4 });
}, 60_000);

describe("a worker that fails costs only time", () => {
  let tree: Promise<{ sources: CertificateSource[]; one: Validation[] }> | undefined;
  /** 64 + 3 x 128 sources: two workers beside this thread; and what one thread gives. */
  const threeThreads = () =>
    (tree ??= sourcesTree(64 + 3 * 128).then(async ({ sources }) => ({
      sources,
      one: (await validate(sources, undefined, { threads: 1 })).results,
    })));
  const standIn = (name: string) => new URL(`../../support/stand-in-workers/${name}`, import.meta.url).href;
  const fallback = "validated on one thread instead (slower, same result)";
  /** Three threads whose two workers are the stand-in NAME: the results must be one thread's. */
  const withStandIn = async (name: string) => {
    const { sources, one } = await threeThreads();
    const run = await validate(sources, undefined, { threads: 3, worker: standIn(name) });
    expectSameAs(run.results, one);
    return run;
  };

  test("workers that fail: the batches they took are validated here, one warning with the first failure's reason", async () => {
    const run = await withStandIn("throws.ts");
    expect(run.used.workerAnswers).toBe(0);
    expect(run.warnings.length).toBe(1);
    expect(run.warnings[0]).toStartWith("validation threads: ");
    expect(run.warnings[0]).toContain("stand-in worker failed");
    expect(run.warnings[0]).toEndWith(`; ${fallback}`);
  }, 60_000);

  test("a worker failing without a message is named as failed", async () => {
    const run = await withStandIn("throws-nothing.ts");
    expect(run.warnings).toEqual([`validation threads: the worker failed; ${fallback}`]);
  }, 60_000);

  test("a worker that is not there (a build without its entrypoint): one warning, the same results", async () => {
    const run = await withStandIn("no-such-worker.ts");
    expect(run.warnings.length).toBe(1);
    expect(run.warnings[0]).toEndWith(`; ${fallback}`);
  }, 60_000);

  test("a caller without a log or counters: failing workers still cost only time, batches they took included", async () => {
    const { sources, one } = await threeThreads();
    for (const name of ["throws.ts", "takes-all-and-exits.ts"])
      expectSameAs(await validateOnAllCores(sources, NOW, undefined, { threads: 3, worker: standIn(name) }), one);
  }, 60_000);

  test("workers that end without answering: the batches they took are validated here", async () => {
    const run = await withStandIn("exits.ts");
    expect(run.used.workerAnswers).toBe(0);
  }, 60_000);

  test("a worker that took batches and ended without answering: those batches are validated here, in their place", async () => {
    const run = await withStandIn("takes-all-and-exits.ts");
    expect(run.used.workerAnswers).toBe(0);
    // It took every batch left when it started: this thread validated those after its own.
    expect(run.used.reclaimedSources).toBeGreaterThan(0);
  }, 60_000);
});

test("this thread takes file identities from the identity function given (the run record's, looked up once)", async () => {
  const { sources } = await sourcesTree(4);
  const run = await validate(sources, undefined, { threads: 1, identity: (path) => `stand-in:${path}` });
  for (const { validated } of run.results) {
    const identities = Object.values(validated.identities ?? {});
    expect(identities.length).toBeGreaterThan(0);
    for (const identity of identities) expect(identity).toStartWith("stand-in:");
  }
});
