// Benchmark helper (not part of the product): the least work any first start must do to build
// sni.map.db from a certificate tree with this runtime, compiled as the product is
// (bench/sni-map.ts builds and runs it beside `sni-map`). Per directory: read `domains`,
// cert.pem and key.pem; the loader's OpenSSL calls on the joined bytes (the PEM objects, the
// certificate, the key decoded once per distinct key, SSL_use_cert_and_key); the value in
// base64, one line per name, fed to one `postmap -r -i` while the next directories are read.
// Nothing else: no file identities, digests, certificate names, client rules, plan, cache,
// records or checks, one thread. What `sni-map` costs above this is what its bookkeeping costs.
// Usage: cold-minimum SSL_DIR CONF_DIR [NAME...]   (NAMEs are mapped to the default pair)
import { ptr, type Pointer } from "bun:ffi";
import { closeSync, readdirSync, readFileSync, renameSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { openPipe } from "../src/libc.ts";
import { asPointer, openSsl, PointerCell } from "../src/sni/openssl.ts";
import { readPemObject } from "../src/sni/pem-objects.ts";

const [sslDir, confDir, ...defaultNames] = process.argv.slice(2);
if (!sslDir || !confDir) throw new Error("usage: cold-minimum SSL_DIR CONF_DIR [NAME...]");
const RSA = 6;
const BATCH = 16;
const openssl = openSsl();
const { crypto, ssl } = openssl;
/** Keys decoded so far, by their DER in base64 (mailcow's acme shares one key between directories). */
const keys = new Map<string, Pointer>();

/** The value postmap -F would embed for this pair, or undefined when Postfix's loader refuses it. */
function judgedValue(keyFile: string, certFile: string): Buffer | undefined {
  const value = Buffer.concat([readFileSync(keyFile), Buffer.from("\n"), readFileSync(certFile)]);
  const text = new Uint8Array(value.length + 1);
  text.set(value);
  const bio = asPointer(crypto.BIO_new_mem_buf(ptr(text), value.length))!;
  const key = readPemObject(openssl, bio);
  const certificate = readPemObject(openssl, bio);
  const end = readPemObject(openssl, bio);
  crypto.BIO_free(bio);
  if (key.end || certificate.end || !end.end) return undefined;
  const id = Buffer.from(key.der).toString("base64");
  let pkey = keys.get(id);
  if (pkey === undefined) {
    const cursor = new PointerCell(ptr(key.der) as unknown as number);
    pkey = asPointer(crypto.d2i_PrivateKey(RSA, null, cursor.address, key.der.length)) ?? undefined;
    if (pkey === undefined) return undefined;
    keys.set(id, pkey);
  }
  const cursor = new PointerCell(ptr(certificate.der) as unknown as number);
  const x509 = asPointer(crypto.d2i_X509(null, cursor.address, certificate.der.length));
  const connection = asPointer(ssl.SSL_new(openssl.serverContext));
  const chain = asPointer(crypto.OPENSSL_sk_new_null());
  crypto.EVP_PKEY_up_ref(pkey);
  const loads = x509 !== null && ssl.SSL_use_cert_and_key(connection, x509, pkey, chain, 0) === 1;
  crypto.OPENSSL_sk_free(chain);
  crypto.X509_free(x509);
  crypto.EVP_PKEY_free(pkey);
  ssl.SSL_free(connection);
  return loads ? value : undefined;
}

const [readEnd, writeEnd] = openPipe(1 << 20);
const building = join(confDir, "sni.map.minimum");
const postmap = Bun.spawn(["postmap", "-c", confDir, "-r", "-i", `hash:${building}`], {
  stdin: readEnd,
  stdout: "ignore",
  stderr: "inherit",
});
closeSync(readEnd);
const scratch = Buffer.allocUnsafe(1 << 20);
let used = 0;
const mapLines: string[] = [];
const flush = () => {
  for (let offset = 0; offset < used; ) offset += writeSync(writeEnd, scratch, offset, used - offset);
  used = 0;
};
const add = (names: readonly string[], value: Buffer, dir: string) => {
  const encoded = value.toString("base64");
  for (const name of names) {
    if (used + name.length + encoded.length + 2 > scratch.length) flush();
    used += scratch.write(name, used, "latin1");
    scratch[used++] = 0x20;
    used += scratch.write(encoded, used, "latin1");
    scratch[used++] = 0x0a;
    mapLines.push(`${name} ${join(dir, "key.pem")} ${join(dir, "cert.pem")}\n`);
  }
};

const defaultValue = judgedValue(join(sslDir, "key.pem"), join(sslDir, "cert.pem"));
if (defaultValue) add(defaultNames, defaultValue, sslDir);
const directories = readdirSync(sslDir, { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && !entry.name.startsWith("."))
  .map((entry) => join(sslDir, entry.name));
for (const [index, dir] of directories.entries()) {
  let names: string[];
  try {
    names = readFileSync(join(dir, "domains"), "latin1").split(/\s+/).filter(Boolean);
  } catch {
    continue;
  }
  const value = judgedValue(join(dir, "key.pem"), join(dir, "cert.pem"));
  if (value) add(names, value, dir);
  if (index % BATCH === BATCH - 1) flush();
}
flush();
closeSync(writeEnd);
writeFileSync(`${building}.text`, mapLines.join(""));
if ((await postmap.exited) !== 0) throw new Error("postmap failed");
renameSync(`${building}.db`, join(confDir, "sni.map.db"));
renameSync(`${building}.text`, join(confDir, "sni.map"));
for (const pkey of keys.values()) crypto.EVP_PKEY_free(pkey);
