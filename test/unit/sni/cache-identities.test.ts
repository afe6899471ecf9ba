import { afterAll, expect, test } from "bun:test";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openPairCache } from "../../../src/sni/cache.ts";
import type { SourceJudgement } from "../../../src/sni/types.ts";
import { makeTempDir } from "../../support/tmp.ts";

// The judgement cache's memory of what files with given identities held (cache.ts): a source
// recalled by its identities is not read again, an identity is kept while its content is in
// use, and an unchanged cache is not rewritten. On the cache's own API, with judgements made up.

const temp = makeTempDir("mpi-cache-identities-");
afterAll(() => temp.cleanup());
let count = 0;
const judgement = (name: string): SourceJudgement => ({
  main: {
    files: { keyFile: `/ssl/${name}/key.pem`, certFile: `/ssl/${name}/cert.pem` },
    certificateNames: [name],
    keyMatches: true,
    valid: true,
  },
  withEcdsa: false,
});
const content = (key: string) => ({ key, digest: `sha256:${key}`, length: 10 });

/** A saved cache holding the judgement of content "k1" and the identity "id1" vouching for it. */
function savedCache(): string {
  const path = join(temp.path, `cache-${++count}.json`);
  const cache = openPairCache(path);
  cache.judge("k1", () => judgement("one.test"));
  cache.remember("id1", content("k1"));
  cache.save();
  return path;
}

test("a remembered identity is recalled with its judgement in the next run, as a hit; unknown ones are not", () => {
  const cache = openPairCache(savedCache());
  expect(cache.recall("id1")).toEqual({ ...content("k1"), judgement: judgement("one.test") });
  expect(cache.recall("unknown")).toBeUndefined();
  expect([cache.hits, cache.misses]).toEqual([1, 0]);
});

test("an identity whose content's judgement is gone is not recalled, and is not saved again", () => {
  const path = savedCache();
  const saved = JSON.parse(readFileSync(path, "utf8"));
  saved.entries = {};
  writeFileSync(path, JSON.stringify(saved));
  const cache = openPairCache(path);
  expect(cache.recall("id1")).toBeUndefined();
  expect(cache.hits).toBe(0);
  cache.save();
  expect(JSON.parse(readFileSync(path, "utf8")).identities).toEqual({});
});

test("files read while they may still change (no identity remembered): a new judgement is saved, a gone one dropped", () => {
  const path = join(temp.path, `cache-${++count}.json`);
  const first = openPairCache(path);
  first.judge("k1", () => judgement("one.test"));
  first.judge("k2", () => judgement("two.test"));
  first.save();
  // One pair renewed, read while it may still change: judged anew, nothing remembered by identity.
  const renewed = openPairCache(path);
  renewed.judge("k1", () => judgement("one.test"));
  renewed.judge("k3", () => judgement("two.test"));
  renewed.save();
  const next = openPairCache(path);
  next.judge("k1", () => judgement("judged again"));
  next.judge("k3", () => judgement("judged again"));
  expect([next.hits, next.misses]).toEqual([2, 0]);
  // The other pair's directory removed.
  next.save();
  const removed = openPairCache(path);
  removed.judge("k1", () => judgement("judged again"));
  removed.save();
  const last = openPairCache(path);
  last.judge("k1", () => judgement("judged again"));
  last.judge("k3", () => judgement("three.test"));
  expect([last.hits, last.misses]).toEqual([1, 1]);
});

test("identities a run did not look at are kept while their content is in use, dropped when it is not", () => {
  const path = savedCache();
  const watcher = openPairCache(path); // a run that judges by content only
  watcher.judge("k1", () => judgement("again"));
  watcher.judge("k2", () => judgement("two.test"));
  watcher.save();
  expect(openPairCache(path).recall("id1")?.key).toBe("k1");
  const other = openPairCache(path);
  other.judge("k2", () => judgement("two.test"));
  other.judge("k3", () => judgement("three.test"));
  other.save();
  expect(openPairCache(path).recall("id1")).toBeUndefined();
  expect(Object.keys(JSON.parse(readFileSync(path, "utf8")).identities)).toEqual([]);
});

test("a cache that nothing changed is not rewritten; a newly remembered identity is", () => {
  const path = savedCache();
  const before = statSync(path).ino;
  const same = openPairCache(path);
  same.recall("id1");
  same.remember("id1", content("k1"));
  same.save();
  expect(statSync(path).ino).toBe(before); // written by rename when written at all
  const more = openPairCache(path);
  more.recall("id1");
  more.remember("id2", content("k1"));
  more.save();
  expect(statSync(path).ino).not.toBe(before);
  expect(openPairCache(path).recall("id2")?.key).toBe("k1");
  // An identity that now vouches for other content is rewritten, though nothing else changed.
  const moved = openPairCache(path);
  moved.judge("k1", () => judgement("again"));
  moved.remember("id1", content("k1"));
  moved.remember("id2", content("k2"));
  moved.judge("k2", () => judgement("two.test"));
  moved.save();
  const settled = openPairCache(path);
  settled.judge("k1", () => judgement("again"));
  settled.judge("k2", () => judgement("again"));
  settled.remember("id1", content("k1"));
  settled.remember("id2", content("k1"));
  const inode = statSync(path).ino;
  settled.save();
  expect(statSync(path).ino).not.toBe(inode);
  expect(openPairCache(path).recall("id2")?.key).toBe("k1");
});

test("identities of a damaged shape are ignored, the judgements kept", () => {
  const path = savedCache();
  const saved = JSON.parse(readFileSync(path, "utf8"));
  saved.identities = { id1: { key: 7 }, id2: null, id3: content("k1") };
  writeFileSync(path, JSON.stringify(saved));
  const cache = openPairCache(path);
  expect(cache.recall("id1")).toBeUndefined();
  expect(cache.recall("id2")).toBeUndefined();
  expect(cache.recall("id3")?.key).toBe("k1");
  cache.judge("k9", () => judgement("nine.test"));
  cache.save(); // the damaged ones are not carried over
  expect(Object.keys(JSON.parse(readFileSync(path, "utf8")).identities)).toEqual(["id3"]);
  for (const identities of ["not an object", null]) {
    saved.identities = identities;
    writeFileSync(path, JSON.stringify(saved));
    const plain = openPairCache(path);
    expect(plain.recall("id3")).toBeUndefined();
    expect(plain.judge("k1", () => judgement("judged again"))).toEqual(judgement("one.test"));
  }
});
