import { describe, expect, test } from "bun:test";
import { digestsByName, storedLines, tableDelta } from "../../../src/sni/table-update.ts";
import type { EmbeddedValue, MapEntry } from "../../../src/sni/types.ts";

// The pure parts of the in-place update; its result against full postmap -F builds is
// test/integration/sni-incremental.test.ts.

const entry = (name: string, value: EmbeddedValue): MapEntry => ({
  name,
  sourceDir: "/ssl",
  files: ["/ssl/key.pem", "/ssl/cert.pem"],
  value,
});
/** A value read this run (the digest is not looked at here). */
const read = (bytes: Uint8Array): EmbeddedValue => ({ digest: "sha256:-", length: bytes.length, bytes });

describe("tableDelta", () => {
  test("names with a new or changed value are written, names gone are removed, the rest left alone", () => {
    const previous = new Map([
      ["a.test", "sha256:1"],
      ["b.test", "sha256:2"],
      ["c.test", "sha256:3"],
    ]);
    const next = new Map([
      ["a.test", "sha256:1"],
      ["b.test", "sha256:9"],
      ["d.test", "sha256:4"],
    ]);
    expect(tableDelta(previous, next)).toEqual({ changed: ["b.test", "d.test"], removed: ["c.test"] });
  });

  test("map lines are keyed by their name (the first word)", () => {
    const byLine = { "a.test /ssl/key.pem /ssl/cert.pem": "sha256:1", ".b.test /ssl/b/key.pem /ssl/b/cert.pem": "sha256:2" };
    expect([...digestsByName(byLine)]).toEqual([
      ["a.test", "sha256:1"],
      [".b.test", "sha256:2"],
    ]);
    expect([...digestsByName(new Map(Object.entries(byLine)))]).toEqual([...digestsByName(byLine)]);
  });
});

describe("storedLines", () => {
  test("each name with the base64 of its bytes, as postmap -F stores a value", () => {
    const shared = Buffer.from("-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n\n-----BEGIN CERTIFICATE-----\n");
    // A view into a larger buffer (as values from worker threads are): only its own bytes count.
    const backing = new Uint8Array(16).fill(0x41);
    backing.set(Buffer.from("key\n\ncert"), 2);
    const view = backing.subarray(2, 2 + 9);
    const sharedValue = read(shared);
    const lines = storedLines([entry("a.test", sharedValue), entry("b.test", sharedValue), entry("c.test", read(view))]).split("\n");
    expect(lines).toEqual([
      `a.test ${shared.toString("base64")}`,
      `b.test ${shared.toString("base64")}`,
      `c.test ${Buffer.from("key\n\ncert").toString("base64")}`,
      "",
    ]);
  });
});
