import { expect, test } from "bun:test";
import { asciiText, escapeBytes, readCertificateFacts } from "../../../src/sni/certificate.ts";
import { TAG } from "../../../src/sni/der.ts";

// Certificates built byte by byte, for what the openssl command line will not write: v1
// certificates, BMPString and UniversalString names, UTCTime around its 1950/2049 pivot,
// GeneralizedTime, malformed extensions. Only the parts the reader looks at are filled in.

/** Tags the reader never looks at, only skips. */
const INTEGER = 0x02;
const BIT_STRING = 0x03;
const OID_CN = [0x06, 0x03, 0x55, 0x04, 0x03];
const OID_O = [0x06, 0x03, 0x55, 0x04, 0x0a];
const OID_SAN = [0x06, 0x03, 0x55, 0x1d, 0x11];

/** One DER item (short or long form length). */
function tlv(tag: number, ...contents: (number[] | Uint8Array)[]): number[] {
  const body = contents.flatMap((part) => [...part]);
  const length = body.length < 0x80 ? [body.length] : [0x82, body.length >> 8, body.length & 0xff];
  return [tag, ...length, ...body];
}
const text = (tag: number, value: string | number[]) => tlv(tag, typeof value === "string" ? [...Buffer.from(value, "latin1")] : value);
const utc = (value: string) => text(TAG.UTC_TIME, value);
const generalized = (value: string) => text(TAG.GENERALIZED_TIME, value);
const attribute = (oid: number[], value: number[]) => tlv(TAG.SEQUENCE, oid, value);
const rdn = (...attributes: number[][]) => tlv(TAG.SET, ...attributes);
const name = (...rdns: number[][]) => tlv(TAG.SEQUENCE, ...rdns);
const san = (...generalNames: number[][]) => tlv(TAG.SEQUENCE, OID_SAN, tlv(TAG.OCTET_STRING, tlv(TAG.SEQUENCE, ...generalNames)));
const dns = (value: string) => text(TAG.CONTEXT_2_PRIMITIVE, value);

interface Parts {
  version?: boolean;
  /** issuerUniqueID [1] before the extensions. */
  uniqueId?: boolean;
  validity?: number[];
  subject?: number[];
  extensions?: number[][];
}

/** A certificate's outer SEQUENCE around a TBSCertificate with these parts. */
function certificate(parts: Parts = {}): Uint8Array {
  const tbs = tlv(
    TAG.SEQUENCE,
    parts.version === false ? [] : tlv(TAG.CONTEXT_0, tlv(INTEGER, [2])),
    tlv(INTEGER, [1]),
    tlv(TAG.SEQUENCE, [0x06, 0x01, 0x00]),
    name(rdn(attribute(OID_CN, text(TAG.UTF8_STRING, "issuer.test")))),
    parts.validity ?? tlv(TAG.SEQUENCE, utc("260101000000Z"), utc("270101000000Z")),
    parts.subject ?? name(rdn(attribute(OID_CN, text(TAG.UTF8_STRING, "cn.test")))),
    tlv(TAG.SEQUENCE, [0x05, 0x00]),
    parts.uniqueId ? tlv(0xa1, [0x03, 0x01, 0x00]) : [],
    ...(parts.extensions ? [tlv(TAG.CONTEXT_3, tlv(TAG.SEQUENCE, ...parts.extensions))] : []),
  );
  return Uint8Array.from(tlv(TAG.SEQUENCE, tbs, tlv(TAG.SEQUENCE, [0x05, 0x00]), tlv(BIT_STRING, [0x00])));
}

test("validity: UTCTime years 00-49 are 20xx and 50-99 are 19xx; GeneralizedTime as written; anything else unknown", () => {
  const facts = (validity: number[][]) => readCertificateFacts(certificate({ validity: tlv(TAG.SEQUENCE, ...validity) }));
  expect(facts([utc("500101000000Z"), utc("491231235959Z")])).toMatchObject({
    notBefore: "1950-01-01T00:00:00.000Z",
    notAfter: "2049-12-31T23:59:59.000Z",
  });
  expect(facts([utc("991231120000Z"), generalized("20540102030405Z")])).toMatchObject({
    notBefore: "1999-12-31T12:00:00.000Z",
    notAfter: "2054-01-02T03:04:05.000Z",
  });
  for (const bad of [
    utc("2601010000Z"),
    utc("260101000000"),
    utc("x260101000000Z"),
    utc("260101000000Zx"),
    generalized("260101000000Z"),
    generalized("2054010203040Z"),
    generalized("x20540102030405Z"),
    generalized("20540102030405Zx"),
    generalized("205401020304a5Z"),
    text(TAG.UTF8_STRING, "20540102030405Z"),
  ]) {
    expect(facts([bad, bad]).notAfter).toBeUndefined();
  }
  // Without a version field ([0] absent: a v1 certificate) the fields sit one place earlier.
  expect(readCertificateFacts(certificate({ version: false })).notAfter).toBe("2027-01-01T00:00:00.000Z");
});

test("names: dNSNames only, the CN ignored beside them; without them every CN of the subject, other attributes not", () => {
  const withSan = readCertificateFacts(certificate({ extensions: [san(dns("a.test"), text(0x87, [192, 0, 2, 1]), dns("b.test"))] }));
  expect(withSan.names).toEqual(["a.test", "b.test"]);
  const subject = name(
    rdn(attribute(OID_O, text(TAG.UTF8_STRING, "org.test"))),
    rdn(attribute(OID_CN, text(TAG.PRINTABLE_STRING, "one.test")), attribute(OID_CN, text(TAG.IA5_STRING, "two.test"))),
    rdn(tlv(TAG.SEQUENCE, OID_CN)),
  );
  expect(readCertificateFacts(certificate({ subject })).names).toEqual(["one.test", "two.test"]);
  // Another extension first, and a v1 certificate's CN.
  const other = tlv(TAG.SEQUENCE, [0x06, 0x03, 0x55, 0x1d, 0x13], tlv(TAG.OCTET_STRING, tlv(TAG.SEQUENCE)));
  expect(readCertificateFacts(certificate({ extensions: [other, san(dns("c.test"))] })).names).toEqual(["c.test"]);
  expect(readCertificateFacts(certificate({ version: false })).names).toEqual(["cn.test"]);
});

test("a subjectAltName that is not an OCTET STRING holds no dNSName: the CN counts", () => {
  const broken = tlv(TAG.SEQUENCE, OID_SAN, tlv(INTEGER, [1]));
  expect(readCertificateFacts(certificate({ extensions: [broken] })).names).toEqual(["cn.test"]);
});

test("string types: BMPString and UniversalString decoded when ASCII; odd lengths, non-ASCII and control bytes rejected, escaped", () => {
  const wide = (value: string, width: 2 | 4) => [...value].flatMap((char) => [...Array(width - 1).fill(0), char.charCodeAt(0)]);
  expect(asciiText(Uint8Array.from(wide("a.test", 2)), TAG.BMP_STRING)).toEqual({ ok: true, value: "a.test" });
  expect(asciiText(Uint8Array.from(wide("a.test", 4)), TAG.UNIVERSAL_STRING)).toEqual({ ok: true, value: "a.test" });
  expect(asciiText(Uint8Array.of(0, 0x61, 0), TAG.BMP_STRING)).toEqual({ ok: false, value: "\\x00a\\x00" });
  expect(asciiText(Uint8Array.of(0, 0, 0, 0x61, 0), TAG.UNIVERSAL_STRING).ok).toBe(false);
  expect(asciiText(Uint8Array.of(0x00, 0xfc), TAG.BMP_STRING)).toEqual({ ok: false, value: "\\x00\\xfc" }); // ü
  expect(asciiText(Uint8Array.of(0x01, 0x61), TAG.BMP_STRING).ok).toBe(false); // a code point above 0xff
  expect(asciiText(Uint8Array.of(0x00, 0x00, 0x01, 0x61), TAG.UNIVERSAL_STRING).ok).toBe(false);
  expect(asciiText(Uint8Array.of(0x00, 0x7f), TAG.BMP_STRING).ok).toBe(false);
  expect(asciiText(Buffer.from(" a~"), TAG.IA5_STRING)).toEqual({ ok: true, value: " a~" });
  expect(asciiText(Uint8Array.of(0x61, 0x1f), TAG.IA5_STRING)).toEqual({ ok: false, value: "a\\x1f" });
  expect(asciiText(Uint8Array.of(0x61, 0x7f), TAG.UTF8_STRING)).toEqual({ ok: false, value: "a\\x7f" });
  expect(asciiText(Buffer.from("a.test"), TAG.OCTET_STRING)).toEqual({ ok: false, value: "a.test" });
  expect(asciiText(Uint8Array.of(0, 0, 0, 0x61), TAG.OCTET_STRING).ok).toBe(false); // not a string type, whatever its length
  const subject = name(rdn(attribute(OID_CN, text(TAG.BMP_STRING, wide("bmp.test", 2)))));
  expect(readCertificateFacts(certificate({ subject })).names).toEqual(["bmp.test"]);
});

test("escaped values: backslash and bytes outside printable ASCII as \\xHH, cut after 80 bytes", () => {
  expect(escapeBytes(Buffer.from("a\\b \x1f\x7f~"))).toBe("a\\x5cb \\x1f\\x7f~");
  expect(escapeBytes(Buffer.from("x".repeat(80)))).toBe("x".repeat(80));
  expect(escapeBytes(Buffer.from("x".repeat(81)))).toBe(`${"x".repeat(80)}…`);
  expect(escapeBytes(Buffer.from("abcd"), 2)).toBe("ab…");
});

test("a TBSCertificate cut short anywhere, or an empty validity: no names or dates, never an exception", () => {
  const fields = [
    tlv(TAG.CONTEXT_0, tlv(INTEGER, [2])),
    tlv(INTEGER, [1]),
    tlv(TAG.SEQUENCE, [0x06, 0x01, 0x00]),
    name(rdn(attribute(OID_CN, text(TAG.UTF8_STRING, "issuer.test")))),
  ];
  for (let count = 0; count <= fields.length; count++) {
    const der = Uint8Array.from(tlv(TAG.SEQUENCE, tlv(TAG.SEQUENCE, ...fields.slice(0, count))));
    expect(readCertificateFacts(der)).toEqual({ names: [], rejectedNames: [], notBefore: undefined, notAfter: undefined });
  }
  expect(readCertificateFacts(certificate({ validity: tlv(TAG.SEQUENCE) }))).toMatchObject({
    names: ["cn.test"],
    notBefore: undefined,
    notAfter: undefined,
  });
  // An extension list holding an empty extension, and a subjectAltName with nothing after its OID.
  expect(
    readCertificateFacts(certificate({ extensions: [tlv(TAG.SEQUENCE), tlv(TAG.SEQUENCE, OID_SAN), san(dns("d.test"))] })).names,
  ).toEqual(["cn.test"]);
});

test("extensions without a subjectAltName: no dNSName, so the CN counts", () => {
  const basicConstraints = tlv(TAG.SEQUENCE, [0x06, 0x03, 0x55, 0x1d, 0x13], tlv(TAG.OCTET_STRING, tlv(TAG.SEQUENCE)));
  expect(readCertificateFacts(certificate({ extensions: [basicConstraints] }))).toMatchObject({ names: ["cn.test"], rejectedNames: [] });
});

test("the extensions are the [3] field, also after an issuerUniqueID", () => {
  expect(readCertificateFacts(certificate({ uniqueId: true, extensions: [san(dns("u.test"))] })).names).toEqual(["u.test"]);
});

test("DER that is no certificate: empty facts", () => {
  expect(readCertificateFacts(Uint8Array.from(tlv(TAG.SEQUENCE, tlv(INTEGER, [1]))))).toEqual({ names: [], rejectedNames: [] });
  expect(readCertificateFacts(Uint8Array.from(tlv(TAG.SET, tlv(TAG.SEQUENCE))))).toEqual({ names: [], rejectedNames: [] });
});

test("only dNSName entries are names: an IP address entry is neither a name nor a rejected value, whatever its bytes", () => {
  const facts = readCertificateFacts(certificate({ extensions: [san(text(0x87, [0x61, 0x2e, 0x74, 0x74]), dns("a.test"))] }));
  expect(facts).toMatchObject({ names: ["a.test"], rejectedNames: [] });
});

test("structures that are not what X.509 says are not read as names", () => {
  const evil = tlv(TAG.SEQUENCE, dns("evil.test"));
  // An extension that is not a SEQUENCE, before the real subjectAltName.
  const notSequence = tlv(TAG.SET, OID_SAN, tlv(TAG.OCTET_STRING, evil));
  expect(readCertificateFacts(certificate({ extensions: [notSequence, san(dns("real.test"))] })).names).toEqual(["real.test"]);
  // A subjectAltName whose value is not an OCTET STRING, though it holds a list of names.
  const notOctets = tlv(TAG.SEQUENCE, OID_SAN, tlv(BIT_STRING, evil));
  expect(readCertificateFacts(certificate({ extensions: [notOctets] })).names).toEqual(["cn.test"]);
  // Subject RDNs that are not a SET, attributes that are not a SEQUENCE or not a (type, value) pair.
  const cn = (value: string) => attribute(OID_CN, text(TAG.UTF8_STRING, value));
  const subject = name(
    tlv(TAG.SEQUENCE, cn("not-a-set.test")),
    rdn(tlv(TAG.SET, OID_CN, text(TAG.UTF8_STRING, "not-a-sequence.test"))),
    rdn(tlv(TAG.SEQUENCE, OID_CN, text(TAG.UTF8_STRING, "three.test"), text(TAG.UTF8_STRING, "parts.test"))),
    rdn(tlv(TAG.SEQUENCE, tlv(TAG.OCTET_STRING, OID_CN.slice(2)), text(TAG.UTF8_STRING, "not-an-oid.test"))),
    rdn(cn("good.test")),
  );
  expect(readCertificateFacts(certificate({ subject })).names).toEqual(["good.test"]);
});

test("a UniversalString character beyond the BMP is not ASCII, though its low 16 bits are", () => {
  expect(asciiText(Uint8Array.of(0x00, 0x01, 0x00, 0x41), TAG.UNIVERSAL_STRING)).toEqual({ ok: false, value: "\\x00\\x01\\x00A" });
});

test("a name of any length a certificate file can hold is read, never a stack overflow: up to 1 MiB, ASCII or not", () => {
  const size = 1024 * 1024;
  expect(asciiText(new Uint8Array(size).fill(0x61), TAG.IA5_STRING)).toEqual({ ok: true, value: "a".repeat(size) });
  expect(asciiText(new Uint8Array(size).fill(0xfc), TAG.UTF8_STRING)).toEqual({ ok: false, value: `${"\\xfc".repeat(80)}…` });
});
