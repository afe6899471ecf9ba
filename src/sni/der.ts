// A minimal DER reader for the few structures certificate.ts needs (SEQUENCE, SET, OID,
// strings, times, context tags). Pure; every function answers undefined rather than
// throwing on input it does not accept (indefinite or overlong lengths, truncated items).

export const TAG = {
  OCTET_STRING: 0x04,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  T61_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  UNIVERSAL_STRING: 0x1c,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
  /** [0], constructed (EXPLICIT, or IMPLICIT over a constructed type). */
  CONTEXT_0: 0xa0,
  /** [3] EXPLICIT: a certificate's extensions. */
  CONTEXT_3: 0xa3,
  /** GeneralName's dNSName: [2] IMPLICIT IA5String. */
  CONTEXT_2_PRIMITIVE: 0x82,
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

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}
