import { afterAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openPairCache } from "../../../src/sni/cache.ts";
import { collectCertificateSources } from "../../../src/sni/discover.ts";
import { validateOnAllCores, type Validation } from "../../../src/sni/validate-parallel.ts";
import { builtBinary, cleanupBuiltBinary } from "../../support/binary.ts";
import { makeCertificate } from "../../support/certs.ts";
import { mailTrees, testEnv } from "../../support/fixture.ts";

// Validation on every core (worker threads, each with its own OpenSSL through bun:ffi) must
// give exactly what one thread gives: the same reports, problems and embedded bytes, in the
// same order, and the same judgements in the cache. Real files and the real OpenSSL.

afterAll(cleanupBuiltBinary);
const mailTree = mailTrees("mpi-parallel-");
const DIRECTORIES = 300;

/** DIRECTORIES certificate directories: mostly good pairs, some broken (mismatched key, no PEM, missing key). */
function bigTree() {
  const tree = mailTree();
  const pairs = [0, 1, 2].map((index) => makeCertificate(join(tree.root, "pool", String(index)), { names: [`pool${index}.example.test`] }));
  for (let index = 0; index < DIRECTORIES; index++) {
    const dir = join(tree.sslDir, `d${String(index).padStart(3, "0")}.example.test`);
    mkdirSync(dir);
    const pair = pairs[index % pairs.length]!;
    copyFileSync(pair.certFile, join(dir, "cert.pem"));
    if (index % 37 === 5) copyFileSync(pairs[(index + 1) % pairs.length]!.keyFile, join(dir, "key.pem"));
    else if (index % 41 === 7) writeFileSync(join(dir, "key.pem"), "not a key\n");
    else copyFileSync(pair.keyFile, join(dir, "key.pem"));
    writeFileSync(join(dir, "domains"), `d${index}.example.test mail.d${index}.example.test`);
  }
  return tree;
}

/** Results with values as text, so that views and buffers compare by content. */
function comparable(results: readonly Validation[]) {
  return results.map(({ validated, problems }) => ({ ...validated, value: validated.value && Buffer.from(validated.value).toString("base64"), problems }));
}

describe("validateOnAllCores", () => {
  test("two threads give what one thread gives, and record the judgements they used", async () => {
    const tree = bigTree();
    await Bun.sleep(60); // older than the judge's settle time
    const { sources } = collectCertificateSources(tree.sslDir);
    const now = new Date();
    const one = await validateOnAllCores(sources, now, undefined, undefined, undefined, 1);
    const cacheFile = join(tree.root, "cache.json");
    const cache = openPairCache(cacheFile);
    const warnings: string[] = [];
    const two = await validateOnAllCores(sources, now, cache, cacheFile, { warn: (line: string) => warnings.push(line) }, 2);
    expect(warnings).toEqual([]);
    expect(comparable(two)).toEqual(comparable(one));
    expect(one.filter((result) => !result.validated.usable).length).toBeGreaterThan(10);
    expect(cache.misses).toBe(sources.length);
    cache.save();
    // The saved cache answers every pair on the next run, in the workers too.
    const again = openPairCache(cacheFile);
    const cached = await validateOnAllCores(sources, now, again, cacheFile, undefined, 2);
    expect(again.hits).toBe(sources.length);
    expect(comparable(cached)).toEqual(comparable(one));
  }, 60_000);

  test("the compiled binary starts its validation threads (no fallback to one thread)", async () => {
    const tree = bigTree();
    await Bun.sleep(60);
    const run = Bun.spawnSync([builtBinary(), "sni-map", "--ssl-dir", tree.sslDir, "--conf-dir", tree.confDir, "--hostname", "mail.example.test"], { env: testEnv(), stderr: "pipe", stdout: "pipe", cwd: "/" });
    const stderr = run.stderr.toString();
    expect(stderr).not.toContain("validation threads");
    expect(run.exitCode).toBe(0);
    expect(stderr).toContain(`names mapped`);
    const map = readFileSync(join(tree.confDir, "sni.map"), "utf8");
    expect(map.includes("\nd1.example.test ")).toBe(true);
    expect(map.includes("\nd5.example.test ")).toBe(false); // its key does not match: not mapped
  }, 120_000);
});
