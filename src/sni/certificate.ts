import { TAG, readItems, readSingle, sameBytes, type Tlv } from "./der.ts";

// Pure: what a leaf certificate (DER) says about the names it serves and when. The names come
// from the bytes as encoded: a dNSName is an IA5String (ASCII), and a value holding other
// bytes is rejected and shown escaped, never re-read as another name. Like TLS clients
// (RFC 6125, OpenSSL's X509_check_host), the subject's common names count only when the
// certificate has no dNSName at all; every CN counts, in any RDN, multi-valued RDNs included.

export interface CertificateFacts {
  /** DNS names as written (ASCII), SAN dNSNames or else the subject's CNs. */
  names: string[];
  /** Values that are not ASCII text, escaped (`b\xc3\xbccher.test`), with why. */
  rejectedNames: string[];
  notBefore?: string;
  notAfter?: string;
}

const OID_SUBJECT_ALT_NAME = Uint8Array.of(0x55, 0x1d, 0x11);
const OID_COMMON_NAME = Uint8Array.of(0x55, 0x04, 0x03);
const TEXT_TAGS = new Set<number>([TAG.UTF8_STRING, TAG.PRINTABLE_STRING, TAG.T61_STRING, TAG.IA5_STRING]);

/** Names and validity of a certificate; empty facts for DER this reader does not follow. */
export function readCertificateFacts(der: Uint8Array): CertificateFacts {
  const facts: CertificateFacts = { names: [], rejectedNames: [] };
  const tbs = readSingle(der, TAG.SEQUENCE)?.[0];
  const fields = tbs?.tag === TAG.SEQUENCE ? readItems(tbs.content) : undefined;
  if (!fields) return facts;
  // [0] version (absent in v1), serial, signature, issuer, validity, subject, spki, [1], [2], [3].
  const base = fields[0]?.tag === TAG.CONTEXT_0 ? 1 : 0;
  const validity = fields[base + 3]?.tag === TAG.SEQUENCE ? readItems(fields[base + 3]!.content) : undefined;
  facts.notBefore = readTime(validity?.[0]);
  facts.notAfter = readTime(validity?.[1]);
  // Only the extensions are tagged [3] (issuerUniqueID [1] and subjectUniqueID [2] precede them).
  const extensions = fields.find((field) => field.tag === TAG.CONTEXT_3);
  const dnsNames = extensions ? subjectAltDnsNames(extensions) : [];
  const values = dnsNames.length > 0 ? dnsNames.map((bytes) => ({ bytes, tag: TAG.IA5_STRING as number })) : commonNames(fields[base + 4]);
  for (const value of values) {
    const text = asciiText(value.bytes, value.tag);
    if (text.ok) facts.names.push(text.value);
    else facts.rejectedNames.push(text.value);
  }
  return facts;
}

/** Raw dNSName values of the subjectAltName extension inside [3] Extensions. */
function subjectAltDnsNames(extensions: Tlv): Uint8Array[] {
  const list = readSingle(extensions.content, TAG.SEQUENCE) ?? [];
  for (const extension of list) {
    const parts = extension.tag === TAG.SEQUENCE ? readItems(extension.content) : undefined;
    if (parts?.[0]?.tag !== TAG.OID || !sameBytes(parts[0].content, OID_SUBJECT_ALT_NAME)) continue;
    const value = parts[parts.length - 1]!;
    if (value.tag !== TAG.OCTET_STRING) return [];
    const names = readSingle(value.content, TAG.SEQUENCE) ?? [];
    return names.filter((name) => name.tag === TAG.CONTEXT_2_PRIMITIVE).map((name) => name.content);
  }
  return [];
}

/** Every commonName value of a Name (SEQUENCE OF SET OF AttributeTypeAndValue), in order. */
function commonNames(subject: Tlv | undefined): { bytes: Uint8Array; tag: number }[] {
  const found: { bytes: Uint8Array; tag: number }[] = [];
  for (const rdn of subject?.tag === TAG.SEQUENCE ? (readItems(subject.content) ?? []) : []) {
    for (const attribute of rdn.tag === TAG.SET ? (readItems(rdn.content) ?? []) : []) {
      const pair = attribute.tag === TAG.SEQUENCE ? readItems(attribute.content) : undefined;
      if (pair?.length === 2 && pair[0]!.tag === TAG.OID && sameBytes(pair[0]!.content, OID_COMMON_NAME)) {
        found.push({ bytes: pair[1]!.content, tag: pair[1]!.tag });
      }
    }
  }
  return found;
}

/** Printable ASCII text of a string value, or its escaped form when it is anything else. */
export function asciiText(bytes: Uint8Array, tag: number): { ok: boolean; value: string } {
  let text: string | undefined;
  // One character per byte (Latin-1): a byte outside printable ASCII is one outside the pattern below.
  if (TEXT_TAGS.has(tag)) text = Buffer.from(bytes).toString("latin1");
  else if (tag === TAG.BMP_STRING && bytes.length % 2 === 0) text = decodeWide(bytes, 2);
  else if (tag === TAG.UNIVERSAL_STRING && bytes.length % 4 === 0) text = decodeWide(bytes, 4);
  if (text !== undefined && /^[\x20-\x7e]*$/.test(text)) return { ok: true, value: text };
  return { ok: false, value: escapeBytes(bytes) };
}

function decodeWide(bytes: Uint8Array, width: number): string {
  let text = "";
  for (let index = 0; index < bytes.length; index += width) {
    let code = 0;
    for (let offset = 0; offset < width; offset++) code = code * 256 + bytes[index + offset]!;
    text += code < 0x80 ? String.fromCharCode(code) : "\u0000"; // any non-ASCII fails the test above
  }
  return text;
}

/** Bytes as text with everything outside printable ASCII (and the backslash) as \xHH. */
export function escapeBytes(bytes: Uint8Array, max = 80): string {
  let text = "";
  for (const byte of bytes.subarray(0, max)) {
    text += byte >= 0x20 && byte < 0x7f && byte !== 0x5c ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, "0")}`;
  }
  return bytes.length > max ? `${text}…` : text;
}

/** UTCTime (YYMMDDHHMMSSZ, 1950-2049) or GeneralizedTime (YYYYMMDDHHMMSSZ) as ISO 8601. */
function readTime(item: Tlv | undefined): string | undefined {
  if (!item) return undefined;
  const text = String.fromCharCode(...item.content);
  const match =
    item.tag === TAG.UTC_TIME
      ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text)
      : item.tag === TAG.GENERALIZED_TIME
        ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text)
        : null;
  if (!match) return undefined;
  const year = item.tag === TAG.UTC_TIME ? (Number(match[1]) < 50 ? 2000 : 1900) + Number(match[1]) : Number(match[1]);
  const time = Date.UTC(year, Number(match[2]) - 1, Number(match[3]), Number(match[4]), Number(match[5]), Number(match[6]));
  return Number.isNaN(time) ? undefined : new Date(time).toISOString();
}
