import { expect, test } from "bun:test";
import { chmodSync, copyFileSync } from "node:fs";
import { join } from "node:path";
import { fileIdentity } from "../../../src/file-identity.ts";
import type { PairCache, RecalledContent } from "../../../src/sni/cache.ts";
import type { CertificateSource, SourceJudgement } from "../../../src/sni/types.ts";
import { validateSource } from "../../../src/sni/validate.ts";
import { pairSources } from "../../support/pair-sources.ts";

// What a validation remembers through its cache (cache.ts's PairCache, held in memory here):
// judgements by content (the file names and every byte judged), and what files held by their
// identities, so that a source whose files keep their identities is not read again
// (docs/performance.md). Only identities taken after the files were left alone for longer than
// a clock tick are remembered; a cache that keeps no identities has every source read.

const NOW = new Date(Date.now() + 60_000);
const { directory, pairFile } = pairSources("mpi-validate-memory-", [
  { names: ["a.test"] },
  { names: ["b.test"], certName: "b-cert.pem", keyName: "b-key.pem" },
]);

/** A source of copies of pair files, dated a minute back, and left alone past a clock tick (ctime) before it is read. */
function source(cert = "cert.pem", key = "key.pem"): CertificateSource {
  const made = directory({ "cert.pem": cert, "key.pem": key });
  Bun.sleepSync(60);
  return made;
}

/** A PairCache in memory, as cache.ts's contract has it, counting the judgements it was asked to make. */
function memoryCache() {
  const judgements = new Map<string, SourceJudgement>();
  const contents = new Map<string, RecalledContent>();
  const asked = { judged: 0 };
  const cache: PairCache = {
    judge(key, judge) {
      const known = judgements.get(key);
      if (known) return known;
      asked.judged++;
      const judgement = judge();
      judgements.set(key, judgement);
      return judgement;
    },
    recall(identityKey) {
      const content = contents.get(identityKey);
      return content && { ...content, judgement: judgements.get(content.key)! };
    },
    remember(identityKey, content) {
      contents.set(identityKey, content);
    },
  };
  return { cache, contents, asked };
}

const identitiesOf = (s: CertificateSource) => ({
  [s.main.certFile]: fileIdentity(s.main.certFile),
  [s.main.keyFile]: fileIdentity(s.main.keyFile),
});

test("files that keep their identities are taken from memory, not read again: the same value, without its bytes", () => {
  const { cache, contents, asked } = memoryCache();
  const s = source();
  const first = validateSource(s, NOW, cache).validated;
  expect(first.usable).toBe(true);
  expect(first.value!.bytes).toBeDefined();
  expect(first.identities).toEqual(identitiesOf(s));
  expect(contents.size).toBe(1);
  const again = validateSource(s, NOW, cache).validated;
  expect(again.usable).toBe(true);
  expect(again.value).toEqual({ digest: first.value!.digest, length: first.value!.length });
  expect(again.main).toEqual(first.main);
  expect(again.identities).toEqual(identitiesOf(s));
  expect(asked.judged).toBe(1);
});

test("each source is remembered under its own files: two sources recall their own values", () => {
  const { cache } = memoryCache();
  const [a, b] = [source(), source("b-cert.pem", "b-key.pem")];
  const firsts = [a, b].map((s) => validateSource(s, NOW, cache).validated.value!.digest);
  expect(firsts[0]).not.toBe(firsts[1]);
  const recalled = [a, b].map((s) => validateSource(s, NOW, cache).validated.value);
  expect(recalled.map((value) => [value!.digest, value!.bytes])).toEqual([
    [firsts[0], undefined],
    [firsts[1], undefined],
  ]);
});

test("the same bytes in two directories are judged for each one's own files", () => {
  const { cache } = memoryCache();
  const [a, b] = [source(), source()];
  expect(validateSource(a, NOW, cache).validated.main.files).toEqual(a.main);
  const other = validateSource(b, NOW, cache).validated;
  expect(other.main.files).toEqual(b.main);
  expect(other.main.certificateNames).toEqual(["a.test"]);
});

test("unreadable sources are judged each for itself, never from another's judgement", () => {
  const { cache } = memoryCache();
  const [a, b] = [source(), source()].map((s) => ({
    ...s,
    kind: "default" as const,
    main: { ...s.main, certFile: join(s.dir, "gone.pem") },
  }));
  expect(validateSource(a!, NOW, cache).validated.main.failure?.reason).toBe(`cannot read ${a!.main.certFile} (ENOENT)`);
  expect(validateSource(b!, NOW, cache).validated.main.failure?.reason).toBe(`cannot read ${b!.main.certFile} (ENOENT)`);
});

test("an ECDSA pair that cannot be read is judged as such, not as the main pair was alone", () => {
  const { cache } = memoryCache();
  const s = { ...source(), kind: "default" as const };
  expect(validateSource(s, NOW, cache).validated.ecdsa).toBeUndefined();
  s.ecdsa = { keyFile: join(s.dir, "ecdsa-key.pem"), certFile: s.main.certFile };
  const { validated } = validateSource(s, NOW, cache);
  expect(validated.usable).toBe(true);
  expect(validated.ecdsa?.failure).toEqual({ code: "key-unreadable", reason: `cannot read ${s.ecdsa.keyFile} (ENOENT)` });
});

test("a source that is not usable is remembered too, and recalled as not usable without reading its files", () => {
  const { cache, asked } = memoryCache();
  const s = source("cert.pem", "b-key.pem");
  const first = validateSource(s, NOW, cache).validated;
  expect(first.usable).toBe(false);
  // The right key put in place, but the identities say the files are as they were: not read.
  copyFileSync(pairFile("key.pem"), s.main.keyFile);
  const again = validateSource(s, NOW, cache, { identity: (path) => first.identities![path]! }).validated;
  expect([again.usable, again.value, again.main.failure]).toEqual([false, undefined, first.main.failure]);
  expect(asked.judged).toBe(1);
});

test("a cache that keeps no identities (judgements only): every source is read", () => {
  const { cache } = memoryCache();
  const judgeOnly: PairCache = { judge: cache.judge };
  const s = source();
  for (let run = 0; run < 2; run++) expect(validateSource(s, NOW, judgeOnly).validated.value!.bytes).toBeDefined();
});

test("identities taken within a clock tick of a file's change are not remembered: the files are read next time", () => {
  const s = source();
  for (let attempt = 1; ; attempt++) {
    const { cache, contents } = memoryCache();
    const changed = performance.now();
    chmodSync(s.main.keyFile, 0o600); // ctime now; the cert's ctime and both mtimes are older
    expect(validateSource(s, NOW, cache).validated.usable).toBe(true);
    if (performance.now() - changed > 40 && attempt < 20) continue; // read too late to tell
    expect(contents.size).toBe(0);
    expect(validateSource(s, NOW, cache).validated.value!.bytes).toBeDefined();
    return;
  }
});

test("a usable source remembered without its value's digest or length is read again", () => {
  const s = source();
  const { cache } = memoryCache();
  const read = validateSource(s, NOW, cache).validated;
  const judgement = { main: read.main, withEcdsa: false };
  const full = { key: "k", digest: read.value!.digest, length: read.value!.length, judgement };
  for (const partial of [
    { ...full, digest: undefined },
    { ...full, length: undefined },
  ]) {
    const validated = validateSource(s, NOW, { judge: (_key, judge) => judge(), recall: () => partial, remember: () => {} }).validated;
    expect(validated.value?.digest).toBe(read.value!.digest);
    expect(Buffer.from(validated.value!.bytes!).equals(Buffer.from(read.value!.bytes!))).toBe(true);
  }
});
