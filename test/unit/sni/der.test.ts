import { expect, test } from "bun:test";
import { readItems, readSingle, sameBytes, TAG } from "../../../src/sni/der.ts";

// The DER reader certificate.ts reads names and dates with: exact framing or undefined, never
// an exception and never a guess, on the inputs a damaged or hostile certificate holds.

const bytes = (...values: number[]) => Uint8Array.of(...values);
const items = (input: Uint8Array) => readItems(input)?.map((item) => [item.tag, [...item.content]]);

test("short and long form lengths; items that exactly fill the input, in order", () => {
  expect(items(bytes(0x02, 0x01, 0x05, 0x04, 0x00))).toEqual([
    [0x02, [5]],
    [0x04, []],
  ]);
  expect(items(bytes(0x04, 0x81, 0x02, 0xaa, 0xbb))).toEqual([[0x04, [0xaa, 0xbb]]]);
  expect(items(bytes(0x04, 0x81, 0x00))).toEqual([[0x04, []]]);
  const long = new Uint8Array(4 + 300);
  long.set([0x04, 0x82, 0x01, 0x2c]);
  expect(readItems(long)?.[0]?.content.length).toBe(300);
  expect(items(bytes(0x04, 0x84, 0x00, 0x00, 0x00, 0x01, 0x07))).toEqual([[0x04, [7]]]);
  expect(items(new Uint8Array(0))).toEqual([]);
});

test("truncated, indefinite, overlong and high-tag items are refused", () => {
  expect(readItems(bytes(0x02))).toBeUndefined(); // a tag without its length
  expect(readItems(bytes(0x02, 0x02, 0x01))).toBeUndefined(); // content shorter than its length
  expect(readItems(bytes(0x02, 0x01, 0x01, 0x02, 0x02, 0x01))).toBeUndefined(); // the second item truncated
  expect(readItems(bytes(0x04, 0x80, 0x00, 0x00))).toBeUndefined(); // BER indefinite length
  expect(readItems(bytes(0x04, 0x85, 0x00, 0x00, 0x00, 0x00, 0x01, 0x07))).toBeUndefined(); // 5 length octets
  expect(readItems(bytes(0x04, 0x82, 0x01))).toBeUndefined(); // length octets cut off
  expect(readItems(bytes(0x04, 0x81, 0x02, 0xaa))).toBeUndefined(); // long form, content cut off
  expect(readItems(bytes(0x1f, 0x01, 0x00))).toBeUndefined(); // high tag number
  expect(readItems(bytes(0x3f, 0x01, 0x00))).toBeUndefined();
});

test("readSingle: the items inside exactly one item of the tag asked for", () => {
  const sequence = bytes(0x30, 0x06, 0x02, 0x01, 0x01, 0x05, 0x01, 0x00);
  expect(readSingle(sequence, TAG.SEQUENCE)?.map((item) => item.tag)).toEqual([0x02, 0x05]);
  expect(readSingle(sequence, TAG.SET)).toBeUndefined();
  expect(readSingle(bytes(...sequence, 0x05, 0x00), TAG.SEQUENCE)).toBeUndefined(); // a second item after it
  expect(readSingle(bytes(0x30, 0x02, 0x02, 0x05), TAG.SEQUENCE)).toBeUndefined(); // its inside does not parse
  expect(readSingle(bytes(0x30), TAG.SEQUENCE)).toBeUndefined();
});

test("sameBytes compares length and content", () => {
  expect(sameBytes(bytes(1, 2), bytes(1, 2))).toBe(true);
  expect(sameBytes(bytes(1, 2), bytes(1, 3))).toBe(false);
  expect(sameBytes(bytes(1, 2), bytes(1, 2, 0))).toBe(false);
});
