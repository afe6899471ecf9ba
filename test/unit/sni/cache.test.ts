import { expect, test } from "bun:test";
import { copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { cacheFileFor, openPairCache } from "../../../src/sni/cache.ts";
import { planSniMapFromTree } from "../../../src/sni/index.ts";
import { mailTrees } from "../../support/fixture.ts";

const mailTree = mailTrees("mpi-cache-");

function setup() {
  const { sslDir, confDir, dirs } = mailTree({
    defaultNames: ["mail.example.test"],
    certificateDirs: { "example.org": ["example.org"] },
    mainCf: "",
  });
  return { sslDir, confDir, org: dirs["example.org"]! };
}

function planWithCache(sslDir: string, confDir: string) {
  const cache = openPairCache(cachePath(confDir));
  const result = planSniMapFromTree({ sslDir, hostname: "mail.example.test", cache });
  cache.save();
  return { result, hits: cache.hits, misses: cache.misses };
}

test("unchanged files reuse the verdict; a replaced key is validated again", () => {
  const { sslDir, confDir, org } = setup();
  const first = planWithCache(sslDir, confDir);
  expect([first.hits, first.misses]).toEqual([0, 2]);
  const second = planWithCache(sslDir, confDir);
  expect([second.hits, second.misses]).toEqual([2, 0]);
  expect(second.result.content).toBe(first.result.content);

  copyFileSync(join(sslDir, "key.pem"), org.keyFile);
  const third = planWithCache(sslDir, confDir);
  expect([third.hits, third.misses]).toEqual([1, 1]);
  expect(third.result.content).not.toContain("example.org");
  expect(third.result.problems.map((problem) => problem.code)).toEqual(["key-mismatch"]);
  // The new verdict is remembered too: the next run judges nothing.
  const fourth = planWithCache(sslDir, confDir);
  expect([fourth.hits, fourth.misses]).toEqual([2, 0]);
});

test("expiry is judged against the current time, not the cached one", () => {
  const { sslDir, confDir } = setup();
  planWithCache(sslDir, confDir);
  const cache = openPairCache(cachePath(confDir));
  const later = planSniMapFromTree({ sslDir, hostname: "mail.example.test", cache, now: new Date(Date.now() + 400 * 86_400_000) });
  expect(cache.hits).toBe(2);
  expect(later.problems.map((problem) => problem.code)).toEqual(["expired", "expired"]);
});

test("the cache file is private and holds no key material", () => {
  const { sslDir, confDir, org } = setup();
  planWithCache(sslDir, confDir);
  const path = cachePath(confDir);
  expect(statSync(path).mode & 0o777).toBe(0o600);
  const text = readFileSync(path, "utf8");
  expect(text).not.toContain("PRIVATE KEY");
  expect(text).not.toContain(readFileSync(org.keyFile, "utf8").split("\n")[1]!);
});

test("a damaged cache file means validating everything again", () => {
  const { sslDir, confDir } = setup();
  mkdirSync(dirname(cachePath(confDir)), { recursive: true });
  writeFileSync(cachePath(confDir), "{not json");
  const run = planWithCache(sslDir, confDir);
  expect([run.hits, run.misses]).toEqual([0, 2]);
});

test("the key is the content: a file touched without a change is a hit, a same-size rewrite a miss", () => {
  const { sslDir, confDir, org } = setup();
  planWithCache(sslDir, confDir);
  Bun.spawnSync(["touch", org.certFile, org.keyFile]);
  expect(planWithCache(sslDir, confDir).hits).toBe(2);
  // Same length, other bytes (a letter of the subject's base64 changed): judged again.
  const text = readFileSync(org.certFile, "utf8");
  const lines = text.split("\n");
  lines[3] = lines[3]!.replace(/[A-Za-z]/, (letter) => (letter === "A" ? "B" : "A"));
  writeFileSync(org.certFile, lines.join("\n"));
  const run = planWithCache(sslDir, confDir);
  expect([run.hits, run.misses]).toEqual([1, 1]);
});

/** A cache file in a directory that does not exist yet (save creates it, 0700). */
function cachePath(dir: string): string {
  return join(dir, "spool", ".mailcow-postfix-init", "sni-validation-cache.json");
}

test("where the cache lives: asked for, else the spool volume with mailcow's conf dir, else nowhere", () => {
  expect(cacheFileFor("/opt/postfix/conf", undefined)).toBe("/var/spool/postfix/.mailcow-postfix-init/sni-validation-cache.json");
  expect(cacheFileFor("/opt/postfix/conf", undefined, "/srv/spool")).toBe("/srv/spool/.mailcow-postfix-init/sni-validation-cache.json");
  expect(cacheFileFor("/tmp/conf", undefined)).toBeUndefined();
  expect(cacheFileFor("/tmp/conf", "/tmp/cache.json")).toBe("/tmp/cache.json");
});

test("the cache's directory is created private", () => {
  const { sslDir, confDir } = setup();
  planWithCache(sslDir, confDir);
  expect(statSync(dirname(cachePath(confDir))).mode & 0o777).toBe(0o700);
});
