import type { Pointer } from "bun:ffi";
import type { OpenSsl } from "./openssl.ts";

// Decoding a private key is a third of what judging a pair costs with OpenSSL 3.0 (RSA-2048:
// ~0.15-0.2 ms; docs/performance.md), and mailcow's acme copies one shared key into every
// certificate directory, so thousands of pairs hold the same key bytes. The same bytes decode
// to the same key: within one validation (a run, or one worker's slice), each distinct key is
// decoded once and every later pair gets its own reference to it (EVP_PKEY_up_ref), as if it
// had decoded the key itself. Keys that do not decode are not remembered (their error is
// read from OpenSSL's queue each time). The owner frees them all at the end.

/** A decoded key and how many bytes of its DER it used (postfix-loader.ts refuses extra bytes). */
export interface DecodedKey {
  key: Pointer;
  consumed: number;
}

export class DecodedKeys {
  private readonly keys = new Map<string, DecodedKey>();
  private openssl: OpenSsl | undefined;

  /** A new reference to the key these DER bytes of TYPE decode to, decoded by DECODE the first time. */
  take(openssl: OpenSsl, type: number, der: Uint8Array, decode: () => DecodedKey | null): DecodedKey | null {
    this.openssl = openssl;
    const id = `${type}:${Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString("base64")}`;
    const known = this.keys.get(id);
    if (known) {
      this.openssl.crypto.EVP_PKEY_up_ref(known.key);
      return known;
    }
    const decoded = decode();
    if (decoded === null) return null;
    this.openssl.crypto.EVP_PKEY_up_ref(decoded.key);
    this.keys.set(id, decoded);
    return decoded;
  }

  /** Drop this memo's references (the keys handed out keep theirs until their holders free them). */
  free(): void {
    for (const { key } of this.keys.values()) this.openssl!.crypto.EVP_PKEY_free(key);
    this.keys.clear();
  }
}
