import { CString, dlopen, ptr, toArrayBuffer, type Pointer } from "bun:ffi";
import { UserError } from "../errors.ts";

// The OpenSSL that Postfix links (libssl.so.3 / libcrypto.so.3 of the same system), reached
// through bun:ffi. postfix-loader.ts drives it the way Postfix's SNI loader does, so the
// verdict on a certificate pair is that library's, not a model of it. Only the handful of
// calls that loader needs are bound here; every returned object is freed by the caller.

const P = "ptr" as const;
const I = "i32" as const;
const L = "i64" as const;
const U = "u64" as const;
const V = "void" as const;

const CRYPTO_SYMBOLS = {
  BIO_new_mem_buf: { args: [P, I], returns: P },
  BIO_free: { args: [P], returns: I },
  BIO_ctrl: { args: [P, I, L, P], returns: L },
  PEM_read_bio: { args: [P, P, P, P, P], returns: I },
  CRYPTO_free: { args: [P, P, I], returns: V },
  ERR_peek_last_error: { args: [], returns: U },
  ERR_clear_error: { args: [], returns: V },
  ERR_reason_error_string: { args: [U], returns: P },
  d2i_X509: { args: [P, P, L], returns: P },
  X509_free: { args: [P], returns: V },
  X509_check_issued: { args: [P, P], returns: I },
  X509_get_key_usage: { args: [P], returns: "u32" },
  X509_get_extended_key_usage: { args: [P], returns: "u32" },
  X509_get_signature_info: { args: [P, P, P, P, P], returns: I },
  d2i_PrivateKey: { args: [I, P, P, L], returns: P },
  d2i_PKCS8_PRIV_KEY_INFO: { args: [P, P, L], returns: P },
  PKCS8_PRIV_KEY_INFO_free: { args: [P], returns: V },
  EVP_PKCS82PKEY: { args: [P], returns: P },
  EVP_PKEY_free: { args: [P], returns: V },
  EVP_PKEY_up_ref: { args: [P], returns: I },
  EVP_PKEY_get_base_id: { args: [P], returns: I },
  EVP_PKEY_get_bits: { args: [P], returns: I },
  EVP_PKEY_get_group_name: { args: [P, P, U, P], returns: I },
  OBJ_nid2sn: { args: [I], returns: P },
  OPENSSL_sk_new_null: { args: [], returns: P },
  OPENSSL_sk_push: { args: [P, P], returns: I },
  OPENSSL_sk_free: { args: [P], returns: V },
} as const;

const SSL_SYMBOLS = {
  TLS_server_method: { args: [], returns: P },
  SSL_CTX_new: { args: [P], returns: P },
  SSL_CTX_set_security_level: { args: [P, I], returns: V },
  SSL_new: { args: [P], returns: P },
  SSL_free: { args: [P], returns: V },
  SSL_use_cert_and_key: { args: [P, P, P, P, I], returns: I },
} as const;

function bindLibraries() {
  return { crypto: dlopen("libcrypto.so.3", CRYPTO_SYMBOLS).symbols, ssl: dlopen("libssl.so.3", SSL_SYMBOLS).symbols };
}
type CryptoSymbols = ReturnType<typeof bindLibraries>["crypto"];
type SslSymbols = ReturnType<typeof bindLibraries>["ssl"];

export interface OpenSsl {
  crypto: CryptoSymbols;
  ssl: SslSymbols;
  /** An SSL_CTX as Postfix's SNI context is made: the library's defaults, security level 0. */
  serverContext: Pointer;
}

let loaded: OpenSsl | undefined;

/** The system's libssl/libcrypto 3, opened once per process. */
export function openSsl(): OpenSsl {
  if (loaded) return loaded;
  let crypto: CryptoSymbols;
  let ssl: SslSymbols;
  try {
    ({ crypto, ssl } = bindLibraries());
  } catch (error) {
    throw new UserError(
      `cannot load OpenSSL 3 (libssl.so.3, libcrypto.so.3), which Postfix uses to load certificates and which judges them here: ${(error as Error).message}; install Debian's libssl3 package`,
      1,
      { cause: error },
    );
  }
  const serverContext = asPointer(ssl.SSL_CTX_new(ssl.TLS_server_method()));
  if (!serverContext) throw new UserError("OpenSSL could not create a TLS server context (SSL_CTX_new failed)");
  // smtpd's SNI context runs at security level 0 ("backwards compatible security as a base for
  // opportunistic TLS", tls_server.c), so a 1024-bit RSA key loads there: judge it the same way.
  ssl.SSL_CTX_set_security_level(serverContext, 0);
  const opened: OpenSsl = { crypto, ssl, serverContext };
  loaded = opened;
  return opened;
}

/** bun:ffi types a returned `ptr` as Pointer | bigint | null; on 64-bit Linux it is a Pointer (a number) or null. */
export function asPointer(value: unknown): Pointer | null {
  return (value as Pointer | null) || null;
}

/** A NUL-terminated C string at `address` (copied), or "" for NULL. */
export function cString(address: unknown): string {
  const pointer = asPointer(address);
  return pointer ? new CString(pointer).toString() : "";
}

/** A copy of `length` bytes at `address`. */
export function copyBytes(address: number, length: number): Uint8Array {
  return length === 0 ? new Uint8Array(0) : new Uint8Array(toArrayBuffer(address as Pointer, 0, length)).slice();
}

/** Room for one C pointer, passed where OpenSSL writes one back (`char **`, `const unsigned char **`). */
export class PointerCell {
  readonly cell = new BigUint64Array(1);
  constructor(initial = 0) {
    this.cell[0] = BigInt(initial);
  }
  get address(): Pointer {
    return ptr(this.cell);
  }
  get value(): number {
    return Number(this.cell[0]);
  }
}

/**
 * OpenSSL 3's ERR_GET_REASON (an inline function in its headers): the low 23 bits. For a system
 * error (top bit set) the macro takes the low 31, errno, which always fits in 23 as well.
 */
export function errorReason(code: bigint): number {
  return Number(code & 0x7fffffn);
}

/** The reason text of the last queued OpenSSL error ("ee key too small"), then clear the queue. */
export function lastErrorReason(openssl: OpenSsl): string | undefined {
  const code = openssl.crypto.ERR_peek_last_error();
  const text = code === 0n ? undefined : cString(openssl.crypto.ERR_reason_error_string(code)) || `error 0x${code.toString(16)}`;
  openssl.crypto.ERR_clear_error();
  return text;
}
