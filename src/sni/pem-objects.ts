import { ptr, type Pointer } from "bun:ffi";
import { cString, copyBytes, errorReason, lastErrorReason, type OpenSsl, PointerCell } from "./openssl.ts";

// A value's PEM objects read one at a time with OpenSSL's PEM_read_bio, as Postfix's
// tls_load_pem_chain reads them; which labels count is postfix-loader.ts's business.

const PEM_R_NO_START_LINE = 108;
const BIO_CTRL_PENDING = 10;

/** One PEM object: its label, whether its headers say ENCRYPTED, and its decoded bytes. */
export interface PemObject {
  end: false;
  label: string;
  encrypted: boolean;
  der: Uint8Array;
}

/** The end of a value's PEM objects; `damage` is OpenSSL's reason when the end is not clean. */
export interface PemEnd {
  end: true;
  damage: string | undefined;
}

/** How many bytes of the value `bio` has not read yet. */
export function pendingBytes(openssl: OpenSsl, bio: Pointer): number {
  return Number(openssl.crypto.BIO_ctrl(bio, BIO_CTRL_PENDING, 0, null));
}

/** The next PEM object in `bio`, or the end of them. Leaves OpenSSL's error queue empty at the end. */
export function readPemObject(openssl: OpenSsl, bio: Pointer): PemObject | PemEnd {
  const { crypto } = openssl;
  const name = new PointerCell();
  const header = new PointerCell();
  const data = new PointerCell();
  const dataLength = new BigInt64Array(1);
  if (!crypto.PEM_read_bio(bio, name.address, header.address, data.address, ptr(dataLength))) {
    // No further BEGIN line: a clean end. Anything else (a block without its END line,
    // bad base64) is damage, an error in Postfix.
    const damage =
      errorReason(crypto.ERR_peek_last_error()) !== PEM_R_NO_START_LINE ? (lastErrorReason(openssl) ?? "read error") : undefined;
    crypto.ERR_clear_error();
    return { end: true, damage };
  }
  const label = cString(name.value);
  const encrypted = cString(header.value).includes("ENCRYPTED");
  const der = copyBytes(data.value, Number(dataLength[0]));
  for (const cell of [name, header, data]) crypto.CRYPTO_free(cell.value as unknown as Pointer, null, 0);
  return { end: false, label, encrypted, der };
}
