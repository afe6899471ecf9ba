import { ptr, type Pointer } from "bun:ffi";
import { asPointer, lastErrorReason, openSsl, PointerCell, type OpenSsl } from "./openssl.ts";
import { pendingBytes, readPemObject } from "./pem-objects.ts";
import type { DecodedKey, DecodedKeys } from "./decoded-keys.ts";
import { describeLoadedChain, type LoadedChain } from "./loaded-chain.ts";

// Postfix's verdict on one sni.map value, reached the way Postfix reaches it. postmap -F embeds
// the named files' bytes joined by "\n"; when a client sends the name, smtpd decodes that value
// and reads it as ONE stream of PEM objects (tls_certkey.c, tls_load_pem_chain): a private key,
// then its certificate, then that certificate's issuers, then optionally the next key; each key
// and chain go into the connection with SSL_use_cert_and_key, which also checks that the key
// belongs to the certificate and passes the library's security level. Any refusal aborts the
// handshake for that name. The same calls into the same OpenSSL, in the same order, with the
// same rules for what is skipped, give the same verdict: that is what this file does.

/** `code`: a stable name of the refusal (key-mismatch, key-not-first, ...); `reason`: what and where. */
export type LoadVerdict = { loads: true; chains: LoadedChain[] } | { loads: false; code: string; reason: string };

/** Where the bytes of a value came from, for messages: file names and their spans in the value. */
export interface ValuePart {
  file: string;
  start: number;
  end: number;
}

// PEM labels Postfix accepts (the PEM_STRING_* names of OpenSSL's headers), and key types.
const CERTIFICATE_LABELS = new Set(["CERTIFICATE", "X509 CERTIFICATE"]);
const KEY_LABELS = new Map<string, number>([
  ["PRIVATE KEY", 0], // PKCS#8: algorithm from its OID
  ["RSA PRIVATE KEY", 6], // EVP_PKEY_RSA
  ["EC PRIVATE KEY", 408], // EVP_PKEY_EC
  ["DSA PRIVATE KEY", 116], // EVP_PKEY_DSA
]);

type State = "init" | "key" | "cert" | "refused";

/**
 * Judge `value` (the bytes postmap -F embeds) as Postfix's SNI loader would. `parts` name the
 * files the bytes came from, for the reason text. Never throws for bad input.
 */
export function loadLikePostfix(value: Uint8Array, parts?: readonly ValuePart[], keys?: DecodedKeys): LoadVerdict {
  const openssl = openSsl();
  const { crypto } = openssl;
  // smtpd hands the decoded value to OpenSSL as a C string: it ends at the first NUL byte. The
  // copy keeps a NUL after it, so it is never empty (ptr() takes no empty array).
  const nul = value.indexOf(0);
  const length = nul === -1 ? value.length : nul;
  const text = new Uint8Array(length + 1);
  text.set(value.subarray(0, length));
  // Parts come in value order, each followed by the "\n" postmap puts before the next file: the
  // first part that ends at or after an offset holds it, or is followed by it.
  const where = (offset: number) => parts?.find((part) => offset <= part.end)?.file ?? "the value";

  crypto.ERR_clear_error();
  const bio = asPointer(crypto.BIO_new_mem_buf(ptr(text), length))!;
  const connection = asPointer(openssl.ssl.SSL_new(openssl.serverContext))!;
  const loader = new ChainLoader(openssl, connection, where, keys);
  try {
    loader.readAll(bio, length);
    return loader.finish();
  } finally {
    crypto.BIO_free(bio);
    loader.release();
    openssl.ssl.SSL_free(connection);
    crypto.ERR_clear_error();
  }
}

class ChainLoader {
  private state: State = "init";
  // Each set before it is read: the refusal's by refuse(), the files' with their key and certificate.
  private reason!: string;
  private code!: string;
  private key: Pointer | null = null;
  private keyWhere!: string;
  private certificateWhere!: string;
  private certificate: Pointer | null = null;
  private certificateDer: Uint8Array = new Uint8Array(0);
  private issuers: { x509: Pointer; der: Uint8Array }[] = [];
  private readonly chains: LoadedChain[] = [];

  constructor(
    private readonly openssl: OpenSsl,
    private readonly connection: Pointer,
    private readonly where: (offset: number) => string,
    private readonly keys?: DecodedKeys,
  ) {}

  /** Read PEM objects until the end of the value or the first refusal. */
  readAll(bio: Pointer, length: number): void {
    for (let objectNumber = 1; this.state !== "refused"; objectNumber++) {
      const startOffset = length - pendingBytes(this.openssl, bio);
      const object = readPemObject(this.openssl, bio);
      if (object.end) {
        if (object.damage !== undefined)
          this.refuse("pem-damaged", `a PEM block in ${this.where(startOffset + 1)} is damaged (OpenSSL: ${object.damage})`);
        return;
      }
      const { label, encrypted, der } = object;
      const file = this.where(length - pendingBytes(this.openssl, bio) - 1);
      if (CERTIFICATE_LABELS.has(label)) this.readCertificate(der, objectNumber, file);
      else if (KEY_LABELS.has(label)) this.readKey(KEY_LABELS.get(label)!, der, objectNumber, encrypted ? `${file}, encrypted` : file);
      // Any other label (EC PARAMETERS before an EC key, PUBLIC KEY, ENCRYPTED PRIVATE KEY, a CRL)
      // is skipped: Postfix logs "ignoring PEM type" and reads on.
    }
  }

  private readCertificate(der: Uint8Array, objectNumber: number, file: string): void {
    if (this.state === "init") {
      this.refuse("key-not-first", `the first PEM object (in ${file}) is a certificate: Postfix wants the private key first`);
      return;
    }
    const { crypto } = this.openssl;
    const cursor = new PointerCell(ptr(der) as unknown as number);
    const x509 = asPointer(crypto.d2i_X509(null, cursor.address, der.length));
    if (!x509) {
      this.refuse(
        "cert-invalid",
        `a certificate (PEM object ${objectNumber}, in ${file}) does not parse (OpenSSL: ${lastErrorReason(this.openssl) ?? "bad encoding"})`,
      );
      return;
    }
    if (cursor.value - (ptr(der) as unknown as number) !== der.length) {
      crypto.X509_free(x509);
      this.refuse("cert-invalid", `a certificate (PEM object ${objectNumber}, in ${file}) has extra bytes after its end`);
      return;
    }
    if (this.certificate === null) {
      this.certificate = x509;
      this.certificateDer = der;
      this.certificateWhere = file;
      this.state = "cert";
    } else {
      this.issuers.push({ x509, der });
    }
  }

  private readKey(type: number, der: Uint8Array, objectNumber: number, file: string): void {
    const { crypto } = this.openssl;
    const decode = () => decodeKey(this.openssl, type, der);
    const decoded = this.keys ? this.keys.take(this.openssl, type, der, decode) : decode();
    const key = decoded?.key ?? null;
    // EVP_PKEY_free(NULL) does nothing: a key that did not decode needs no test here.
    if (this.state === "key") {
      crypto.EVP_PKEY_free(key);
      this.refuse(
        "key-twice",
        this.keyWhere === file
          ? `two private keys in a row in ${file}: no certificate follows the first`
          : `two private keys in a row (${this.keyWhere}, then ${file}): no certificate follows the first`,
      );
      return;
    }
    // A key after a chain starts the next chain: the previous one is installed first.
    if (this.state === "cert" && !this.installChain()) {
      crypto.EVP_PKEY_free(key);
      return;
    }
    if (!key) {
      this.refuse(
        "key-invalid",
        `the private key (PEM object ${objectNumber}, in ${file}) does not parse (OpenSSL: ${lastErrorReason(this.openssl) ?? "bad encoding"})`,
      );
      return;
    }
    if (decoded!.consumed !== der.length) {
      crypto.EVP_PKEY_free(key);
      this.refuse("key-invalid", `the private key (PEM object ${objectNumber}, in ${file}) has extra bytes after its end`);
      return;
    }
    this.key = key;
    this.keyWhere = file;
    this.state = "key";
  }

  /** The verdict once every object was read. */
  finish(): LoadVerdict {
    if (this.state === "init") this.refuse("no-pem", "no PEM private key or certificate Postfix can read");
    if (this.state === "key") this.refuse("cert-missing", `no certificate follows the private key in ${this.keyWhere}`);
    if (this.state === "cert") this.installChain();
    if (this.state === "refused") return { loads: false, code: this.code, reason: this.reason };
    return { loads: true, chains: this.chains };
  }

  /**
   * SSL_use_cert_and_key for the current key and chain, as Postfix's use_chain; frees them. The
   * caller moves on: to the next key (which sets the state) or to the verdict.
   */
  private installChain(): boolean {
    const { crypto, ssl } = this.openssl;
    const stack = asPointer(crypto.OPENSSL_sk_new_null());
    for (const issuer of this.issuers) crypto.OPENSSL_sk_push(stack, issuer.x509);
    crypto.ERR_clear_error();
    const installed = ssl.SSL_use_cert_and_key(this.connection, this.certificate, this.key, stack, 0) === 1;
    crypto.OPENSSL_sk_free(stack);
    if (installed) {
      this.chains.push(describeLoadedChain(this.openssl, this.key!, this.certificate!, this.certificateDer, this.issuers));
      this.release();
      return true;
    }
    const failure = lastErrorReason(this.openssl);
    const [keyWhere, certificateWhere] = [this.keyWhere, this.certificateWhere];
    this.release();
    if (/mismatch/.test(String(failure)))
      this.refuse(
        "key-mismatch",
        `the private key in ${keyWhere} does not match the certificate in ${certificateWhere} (OpenSSL: ${failure})`,
      );
    else
      this.refuse(
        "pair-refused",
        `OpenSSL refuses the key in ${keyWhere} with the certificate in ${certificateWhere} (${failure ?? "no reason given"})`,
      );
    return false;
  }

  /** Called at most once: every caller runs only while nothing is refused. */
  private refuse(code: string, reason: string): void {
    this.state = "refused";
    this.code = code;
    this.reason = reason;
  }

  /** Free the key and certificates not yet handed to OpenSSL's connection object (freeing NULL does nothing). */
  release(): void {
    const { crypto } = this.openssl;
    crypto.EVP_PKEY_free(this.key);
    crypto.X509_free(this.certificate);
    for (const issuer of this.issuers) crypto.X509_free(issuer.x509);
    this.key = null;
    this.certificate = null;
    this.issuers = [];
    this.certificateDer = new Uint8Array(0);
  }
}

/** d2i of a private key as Postfix's loader does it: by the PEM label's type, or PKCS#8 by its OID. */
function decodeKey(openssl: OpenSsl, type: number, der: Uint8Array): DecodedKey | null {
  const { crypto } = openssl;
  const start = ptr(der) as unknown as number;
  const cursor = new PointerCell(start);
  let key: Pointer | null;
  if (type !== 0) {
    key = asPointer(crypto.d2i_PrivateKey(type, null, cursor.address, der.length));
  } else {
    const info = crypto.d2i_PKCS8_PRIV_KEY_INFO(null, cursor.address, der.length);
    key = info ? asPointer(crypto.EVP_PKCS82PKEY(info)) : null;
    crypto.PKCS8_PRIV_KEY_INFO_free(info);
  }
  return key === null ? null : { key, consumed: cursor.value - start };
}
