// A minimal DER reader for the few structures key-match.ts needs (SEQUENCE, INTEGER, OCTET
// STRING, BIT STRING, OID, context tags). Pure; every function answers undefined rather than
// throwing on input it does not accept (indefinite or overlong lengths, truncated items).

export const TAG = {
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  SEQUENCE: 0x30,
  /** [0] and [1], constructed (EXPLICIT, or IMPLICIT over a constructed type). */
  CONTEXT_0: 0xa0,
  CONTEXT_1: 0xa1,
  /** [1] IMPLICIT BIT STRING (PKCS#8 v2's publicKey), primitive. */
  CONTEXT_1_PRIMITIVE: 0x81,
} as const;

/** One tag-length-value item: its tag and its content. */
export interface Tlv {
  tag: number;
  content: Uint8Array;
}

/** The items that exactly fill `bytes`, in order; undefined when they do not. */
export function readItems(bytes: Uint8Array): Tlv[] | undefined {
  const items: Tlv[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const tag = bytes[offset]!;
    // High tag numbers (0x1f) never occur in the structures read here.
    if ((tag & 0x1f) === 0x1f || offset + 2 > bytes.length) return undefined;
    let length = bytes[offset + 1]!;
    let start = offset + 2;
    if (length & 0x80) {
      const octets = length & 0x7f;
      // 0x80 is BER's indefinite length; more than 4 octets is no key file.
      if (octets === 0 || octets > 4 || start + octets > bytes.length) return undefined;
      length = 0;
      for (let index = 0; index < octets; index++) length = length * 256 + bytes[start + index]!;
      start += octets;
    }
    if (start + length > bytes.length) return undefined;
    items.push({ tag, content: bytes.subarray(start, start + length) });
    offset = start + length;
  }
  return items;
}

/** The items inside a single item of `tag` that fills all of `bytes`. */
export function readSingle(bytes: Uint8Array, tag: number): Tlv[] | undefined {
  const outer = readItems(bytes);
  if (outer?.length !== 1 || outer[0]!.tag !== tag) return undefined;
  return readItems(outer[0]!.content);
}

/** There are as many `items` as `tags`, each with its tag. */
export function hasTags(items: readonly Tlv[] | undefined, tags: readonly number[]): items is Tlv[] {
  return items !== undefined && items.length === tags.length && items.every((item, index) => item.tag === tags[index]);
}

/** An INTEGER's value bytes without the sign-padding zeros, for comparing magnitudes. */
export function unsignedBytes(content: Uint8Array): Uint8Array {
  let start = 0;
  while (start < content.length - 1 && content[start] === 0) start++;
  return content.subarray(start);
}

/** A BIT STRING's bits, when it holds whole bytes (no unused bits), as keys do. */
export function bitStringBytes(item: Tlv | undefined): Uint8Array | undefined {
  if (item?.tag !== TAG.BIT_STRING && item?.tag !== TAG.CONTEXT_1_PRIMITIVE) return undefined;
  return item.content.length >= 1 && item.content[0] === 0 ? item.content.subarray(1) : undefined;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}
