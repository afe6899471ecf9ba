import { afterAll, expect, test } from "bun:test";
import { copyFileSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { planSniMapFromTree } from "../../../src/sni/index.ts";
import { retainLastGood } from "../../../src/watch/last-good.ts";
import { makeCertificate, makeCertificateDirectory } from "../../support/certs.ts";
import { makeTempDir } from "../../support/tmp.ts";

// Real trees judged by the engine; only the clock is chosen.

const temp = makeTempDir("mpi-last-good-");
afterAll(() => temp.cleanup());
const sslDir = join(temp.path, "ssl");
makeCertificate(sslDir, { names: ["mail.example.test"] });
const good = makeCertificateDirectory(sslDir, "a.example.test", ["a.example.test", "www.a.example.test"]);
makeCertificateDirectory(sslDir, "b.example.test", ["b.example.test"]);
const stranger = makeCertificate(join(temp.path, "stranger"), { names: ["stranger.test"] });
const goodValue = `${readFileSync(good.keyFile, "utf8")}\n${readFileSync(good.certFile, "utf8")}`;
const plan = (now: Date) => planSniMapFromTree({ sslDir, hostname: "mail.example.test", now });
const valueFor = (entries: { name: string; value: { bytes?: Uint8Array } }[], name: string) => {
  const entry = entries.find((candidate) => candidate.name === name);
  return entry && Buffer.from(entry.value.bytes!).toString();
};

test("a directory whose new key does not match keeps its last good pair until that pair expires", () => {
  const now = new Date();
  const before = retainLastGood(new Map(), plan(now), now);
  expect(before.held).toEqual([]);
  expect(valueFor(before.entries, "a.example.test")).toBe(goodValue);

  copyFileSync(stranger.keyFile, good.keyFile); // a broken renewal: another pair's key
  const broken = plan(now);
  expect(broken.entries.some((entry) => entry.name === "a.example.test")).toBe(false); // the engine alone drops it
  const kept = retainLastGood(before.next, broken, now);
  expect(kept.held).toEqual([good.dir]);
  expect(valueFor(kept.entries, "a.example.test")).toBe(goodValue);
  expect(valueFor(kept.entries, "www.a.example.test")).toBe(goodValue);
  expect(kept.entries.filter((entry) => entry.name === "b.example.test")).toHaveLength(1);
  const lines = kept.problems.filter((problem) => problem.source === good.dir);
  expect(lines).toHaveLength(1);
  expect(lines[0]!.message).toContain("the last pair that loaded stays mapped for a.example.test, www.a.example.test");
  expect(kept.nextExpiry).toBeGreaterThan(now.getTime());

  // Still broken at the next apply: still kept.
  const again = retainLastGood(kept.next, plan(now), now);
  expect(valueFor(again.entries, "a.example.test")).toBe(goodValue);

  // Once the kept pair has expired, the names fall back to the default certificate.
  const later = new Date(kept.nextExpiry! + 1_000);
  const expired = retainLastGood(again.next, plan(later), later);
  expect(expired.held).toEqual([]);
  expect(expired.entries.some((entry) => entry.name === "a.example.test")).toBe(false);
  expect(expired.problems.find((problem) => problem.source === good.dir)!.message).toContain("the last pair that loaded expired on");
});

test("a removed directory is not held: its names go to the default certificate", () => {
  const now = new Date();
  const before = retainLastGood(new Map(), plan(now), now);
  expect(valueFor(before.entries, "b.example.test")).toBeDefined();
  rmSync(join(sslDir, "b.example.test"), { recursive: true });
  const after = retainLastGood(before.next, plan(now), now);
  expect(after.entries.some((entry) => entry.name === "b.example.test")).toBe(false);
  expect(after.next.has(join(sslDir, "b.example.test"))).toBe(false);
});

test("a broken default pair keeps its last good value for its names", () => {
  const now = new Date();
  const before = retainLastGood(new Map(), plan(now), now);
  const defaultValue = valueFor(before.entries, "mail.example.test");
  copyFileSync(stranger.keyFile, join(sslDir, "key.pem"));
  const after = retainLastGood(before.next, plan(now), now);
  expect(after.held).toContain(sslDir);
  expect(valueFor(after.entries, "mail.example.test")).toBe(defaultValue);
});
