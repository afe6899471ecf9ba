import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openPairCache } from "../../../src/sni/cache.ts";
import { collectCertificateSources } from "../../../src/sni/discover.ts";
import { validateOnAllCores, type Validation } from "../../../src/sni/validate-parallel.ts";
import { builtBinary, cleanupBuiltBinary } from "../../support/binary.ts";
import { mailTrees, testEnv } from "../../support/fixture.ts";
import { bytesRead, comparable, fillPoolTree } from "../../support/pool-tree.ts";

// Validation on every core (worker threads, each with its own OpenSSL through bun:ffi) must
// give exactly what one thread gives: the same reports, problems and embedded bytes, in the
// same order, and the same judgements in the cache. Real files and the real OpenSSL.

afterAll(cleanupBuiltBinary);
const mailTree = mailTrees("mpi-parallel-");
// Enough for two threads after the first sources (validate-parallel.ts: 128 or more per thread).
const DIRECTORIES = 400;

const bigTree = () => fillPoolTree(mailTree(), DIRECTORIES);

/** Two threads, the second a worker that must start and answer (no fallback warning). */
async function inWorker(
  sources: Parameters<typeof validateOnAllCores>[0],
  now: Date,
  cache: ReturnType<typeof openPairCache>,
  cacheFile: string,
): Promise<Validation[]> {
  const warnings: string[] = [];
  const used = { workerAnswers: 0, workerSources: 0, reclaimedSources: 0 };
  const results = await validateOnAllCores(sources, now, cache, {
    cacheFile,
    log: { warn: (line: string) => warnings.push(line) },
    threads: 2,
    used,
  });
  expect(warnings).toEqual([]);
  expect(used.workerAnswers).toBe(1);
  return results;
}

describe("validateOnAllCores", () => {
  test("two threads give what one thread gives, and record the judgements they used", async () => {
    const tree = bigTree();
    await Bun.sleep(60); // older than the judge's settle time
    const { sources } = collectCertificateSources(tree.sslDir);
    const now = new Date();
    const one = await validateOnAllCores(sources, now, undefined, { threads: 1 });
    const cacheFile = join(tree.root, "cache.json");
    const cache = openPairCache(cacheFile);
    const two = await inWorker(sources, now, cache, cacheFile);
    expect(comparable(two)).toEqual(comparable(one));
    expect(bytesRead(two)).toEqual(bytesRead(one)); // the worker's values come with their bytes
    expect(one.filter((result) => !result.validated.usable).length).toBeGreaterThan(10);
    expect(cache.misses).toBe(sources.length);
    cache.save();
    // Every judgement cached: the same results (one thread does it: nothing to judge).
    const again = openPairCache(cacheFile);
    const cachedRun = { workerAnswers: 0, workerSources: 0, reclaimedSources: 0 };
    expect(comparable(await validateOnAllCores(sources, now, again, { cacheFile, threads: 2, used: cachedRun }))).toEqual(comparable(one));
    expect(again.hits).toBe(sources.length);
    expect(cachedRun.workerAnswers).toBe(0);
  }, 60_000);

  test("workers answer from the cache file for the pairs it knows", async () => {
    const tree = bigTree();
    await Bun.sleep(60);
    const { sources } = collectCertificateSources(tree.sslDir);
    const now = new Date();
    const one = await validateOnAllCores(sources, now, undefined, { threads: 1 });
    // A cache of the back half only: the first sources need judging, so workers start, and
    // their slices are mostly cached.
    const cacheFile = join(tree.root, "cache.json");
    const half = openPairCache(cacheFile);
    await validateOnAllCores(sources.slice(150), now, half, { threads: 1 });
    half.save();
    // Mark one remembered judgement (of the last directory, in a worker's slice): a worker that
    // consults the cache file returns the marked one.
    const saved = JSON.parse(readFileSync(cacheFile, "utf8")) as {
      entries: Record<string, { main: { files: { certFile: string }; notAfter?: string } }>;
    };
    const marked = Object.values(saved.entries).find((judgement) => judgement.main.files.certFile.includes("/d399.example.test/"))!;
    marked.main.notAfter = "2099-01-01T00:00:00.000Z";
    writeFileSync(cacheFile, JSON.stringify(saved));
    const cache = openPairCache(cacheFile);
    const two = await inWorker(sources, now, cache, cacheFile);
    expect(two.at(-1)!.validated.main.notAfter).toBe("2099-01-01T00:00:00.000Z");
    expect(comparable(two).slice(0, -1)).toEqual(comparable(one).slice(0, -1));
    expect(cache.hits).toBe(sources.slice(150).length);
  }, 60_000);

  test("the compiled binary starts its validation threads (no fallback to one thread)", async () => {
    const tree = bigTree();
    await Bun.sleep(60);
    const run = Bun.spawnSync(
      [builtBinary(), "sni-map", "--ssl-dir", tree.sslDir, "--conf-dir", tree.confDir, "--hostname", "mail.example.test"],
      { env: testEnv(), stderr: "pipe", stdout: "pipe", cwd: "/" },
    );
    const stderr = run.stderr.toString();
    expect(stderr).not.toContain("validation threads");
    expect(run.exitCode).toBe(0);
    expect(stderr).toContain(`names mapped`);
    const map = readFileSync(join(tree.confDir, "sni.map"), "utf8");
    expect(map.includes("\nd1.example.test ")).toBe(true);
    expect(map.includes("\nd5.example.test ")).toBe(false); // its key does not match: not mapped
  }, 120_000);
});
