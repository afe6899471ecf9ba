import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Variant } from "./pem-corpus.ts";

// Certificates that Postfix loads but that a class of TLS clients may not be able to use:
// RSA key sizes, keyUsage / extendedKeyUsage on RSA and EC leaves, chains around the clients'
// size limits, certificate signature algorithms, and RSA+ECDSA values where one half is unfit
// for one protocol. Everything is made here with the openssl command line, for this run only.

function openssl(args: string[], input?: Buffer): Buffer {
  const result = Bun.spawnSync(["openssl", ...args], { stdin: input ?? "ignore", stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${result.stderr.toString()}`);
  return result.stdout;
}

/** A variant, and whether verifying clients should be warned about (EKU without serverAuth, an MD5 or SHA-1 signature). */
export interface ClientVariant extends Variant {
  verifierWarning?: boolean;
}

interface Pair {
  key: Buffer;
  cert: Buffer;
}

/** Scratch files and one CA (root -> intermediate) that signs every leaf. */
class Maker {
  private counter = 0;
  readonly rootKey: string;
  readonly rootCert: string;
  readonly intermediateKey: string;
  readonly intermediateCert: string;

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    this.rootKey = this.file("root.key", openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]));
    this.rootCert = this.file(
      "root.pem",
      openssl([
        "req",
        "-x509",
        "-new",
        "-key",
        this.rootKey,
        "-subj",
        "/CN=Client Corpus Root",
        "-days",
        "30",
        "-addext",
        "basicConstraints=critical,CA:true",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
      ]),
    );
    this.intermediateKey = this.file("intermediate.key", openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]));
    this.intermediateCert = this.file(
      "intermediate.pem",
      this.sign(
        this.intermediateKey,
        "/CN=Client Corpus Intermediate",
        "basicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign\n",
        this.rootCert,
        this.rootKey,
      ),
    );
  }

  file(name: string, content: Buffer | string): string {
    const path = join(this.dir, name);
    writeFileSync(path, content, { mode: 0o600 });
    return path;
  }

  key(args: string[]): Buffer {
    return openssl(["genpkey", ...args]);
  }

  /** Sign a certificate for keyFile with exactly `extensions` (extfile text), by the intermediate unless told. */
  sign(
    keyFile: string,
    subject: string,
    extensions: string,
    ca = this.intermediateCert,
    caKey = this.intermediateKey,
    digest: string[] = ["-sha256"],
  ): Buffer {
    const n = ++this.counter;
    const csr = openssl(["req", "-new", "-key", keyFile, "-subj", subject]);
    const ext = this.file(`ext-${n}.cnf`, extensions);
    return openssl(
      ["x509", "-req", "-CA", ca, "-CAkey", caKey, "-set_serial", String(1000 + n), "-days", "30", "-extfile", ext, ...digest],
      csr,
    );
  }

  /** A leaf for `name` with `key`, extra extension lines, chain = leaf + intermediate. */
  leaf(name: string, key: Buffer, extraExtensions = "", digest?: string[]): Pair {
    const keyFile = this.file(`${name}.key`, key);
    const leafCert = this.sign(
      keyFile,
      `/CN=${name}.client.test`,
      `subjectAltName=DNS:${name}.client.test\n${extraExtensions}`,
      undefined,
      undefined,
      digest,
    );
    return { key, cert: Buffer.concat([leafCert, readFileSync(this.intermediateCert)]) };
  }
}

const rsa = (bits: number) => ["-algorithm", "RSA", "-pkeyopt", `rsa_keygen_bits:${bits}`];
const ec = (curve: string) => ["-algorithm", "EC", "-pkeyopt", `ec_paramgen_curve:${curve}`];

/** DER size of the first certificate in a PEM text. */
function derLength(pem: Buffer): number {
  return openssl(["x509", "-outform", "DER"], pem).length;
}

/**
 * Build the corpus in DIR. `largeRsaKey`: a cached RSA-16384 key (PEM) when the run has one
 * (its generation takes minutes: see client-handshake-corpus.test.ts).
 */
export async function makeClientCorpus(dir: string, largeRsaKey?: Buffer): Promise<ClientVariant[]> {
  const make = new Maker(dir);
  const rsa8192 = Bun.spawn(["openssl", "genpkey", ...rsa(8192)], { stdout: "pipe", stderr: "ignore" });
  const variants: ClientVariant[] = [];
  const add = (id: string, main: Pair, ecdsa?: Pair) => variants.push({ id, main, ...(ecdsa ? { ecdsa } : {}) });
  const warned = (id: string, main: Pair, ecdsa?: Pair) => variants.push({ id, main, ...(ecdsa ? { ecdsa } : {}), verifierWarning: true });

  // RSA key sizes around RSA-PSS-SHA256's minimum (66 bytes of modulus) and up.
  const rsaKeys = new Map<number, Buffer>();
  for (const bits of [512, 520, 521, 528, 600, 768, 1024, 1536, 2048, 3072, 4096]) rsaKeys.set(bits, make.key(rsa(bits)));
  for (const [bits, key] of rsaKeys) add(`rsa${bits}`, make.leaf(`rsa${bits}`, key));
  const p256 = make.key(ec("P-256"));
  const p384 = make.key(ec("P-384"));
  const rsa2048 = rsaKeys.get(2048)!;

  // keyUsage / extendedKeyUsage on RSA leaves.
  const rsaUsages: [string, string][] = [
    ["ku-ds", "keyUsage=critical,digitalSignature"],
    ["ku-ke", "keyUsage=critical,keyEncipherment"],
    ["ku-ds-ke", "keyUsage=critical,digitalSignature,keyEncipherment"],
    ["ku-ke-noncritical", "keyUsage=keyEncipherment"],
    ["ku-dataenc", "keyUsage=critical,dataEncipherment"],
    ["ku-certsign", "keyUsage=critical,keyCertSign"],
    ["ku-ka", "keyUsage=critical,keyAgreement"],
    ["eku-server", "extendedKeyUsage=serverAuth"],
    ["eku-client", "extendedKeyUsage=clientAuth"],
    ["eku-server-client", "extendedKeyUsage=serverAuth,clientAuth"],
    ["eku-email", "extendedKeyUsage=emailProtection"],
    ["eku-any", "extendedKeyUsage=anyExtendedKeyUsage"],
    ["ca-leaf", "basicConstraints=critical,CA:true"],
  ];
  for (const [id, extension] of rsaUsages)
    (/eku-(client|email)$/.test(id) ? warned : add)(`rsa-${id}`, make.leaf(`rsa-${id}`, rsa2048, `${extension}\n`));
  // ... and on EC leaves.
  const ecUsages: [string, string][] = [
    ["ku-ds", "keyUsage=critical,digitalSignature"],
    ["ku-ka", "keyUsage=critical,keyAgreement"],
    ["ku-ds-ka", "keyUsage=critical,digitalSignature,keyAgreement"],
    ["ku-ke", "keyUsage=critical,keyEncipherment"],
    ["ku-nonrepudiation", "keyUsage=nonRepudiation"],
    ["eku-client", "extendedKeyUsage=clientAuth"],
    ["eku-server", "extendedKeyUsage=serverAuth"],
  ];
  for (const [id, extension] of ecUsages)
    (/eku-client$/.test(id) ? warned : add)(`ec-${id}`, make.leaf(`ec-${id}`, p256, `${extension}\n`));
  add("ed25519-ku-ds", make.leaf("ed25519-ku-ds", make.key(["-algorithm", "ED25519"]), "keyUsage=critical,digitalSignature\n"));
  add("ed25519-ku-ka", make.leaf("ed25519-ku-ka", make.key(["-algorithm", "ED25519"]), "keyUsage=critical,keyAgreement\n"));
  add("ed448", make.leaf("ed448", make.key(["-algorithm", "ED448"])));
  add("p521", make.leaf("p521", make.key(ec("P-521"))));
  add("rsa-pss-key-512", make.leaf("rsa-pss-key-512", make.key(["-algorithm", "RSA-PSS", "-pkeyopt", "rsa_keygen_bits:512"])));
  add("rsa-pss-key-2048", make.leaf("rsa-pss-key-2048", make.key(["-algorithm", "RSA-PSS", "-pkeyopt", "rsa_keygen_bits:2048"])));
  add("ec-p384-ku-ka", make.leaf("ec-p384-ku-ka", p384, "keyUsage=critical,keyAgreement\n"));

  // Signature algorithms of the certificate itself.
  warned("sig-sha1", make.leaf("sig-sha1", rsa2048, "", ["-sha1"]));
  warned("sig-md5", make.leaf("sig-md5", rsa2048, "", ["-md5"]));
  add("sig-sha512", make.leaf("sig-sha512", rsa2048, "", ["-sha512"]));
  add(
    "sig-rsa-pss",
    make.leaf("sig-rsa-pss", rsa2048, "", ["-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"]),
  );
  warned("ec-sig-sha1", make.leaf("ec-sig-sha1", p256, "", ["-sha1"]));

  // Chains around the clients' limits: the leaf and N copies of the intermediate.
  const base = make.leaf("chain", rsa2048);
  const leafPem = base.cert.subarray(0, base.cert.indexOf("-----END CERTIFICATE-----") + 26);
  const intermediate = readFileSync(make.intermediateCert);
  const leafDer = derLength(leafPem);
  const intermediateDer = derLength(intermediate);
  // OpenSSL clients refuse a Certificate message over 100 KiB (max_cert_list); its body is
  // 3 + sum(3 + DER) in TLS 1.2, 1 + 3 + sum(3 + DER + 2) in TLS 1.3.
  const tls13Body = (copies: number) => 4 + (leafDer + 5) + copies * (intermediateDer + 5);
  let fits = 0;
  while (tls13Body(fits + 1) <= 102_400) fits++;
  const chained = (copies: number): Pair => ({
    key: rsa2048,
    cert: Buffer.concat([leafPem, Buffer.from("\n"), ...Array.from({ length: copies }, () => intermediate)]),
  });
  for (const copies of [14, 15, 16, 30, fits - 1, fits, fits + 1, fits + 2, fits + 40]) add(`chain-${copies}`, chained(copies));
  // Exactly at the limit and one byte over: the leaf padded with a comment to the byte.
  for (const [id, target] of [
    ["chain-at-limit", 102_400],
    ["chain-one-byte-over", 102_401],
  ] as const) {
    const copies = fits - 1;
    const padded = paddedLeaf(make, rsa2048, id, (leafBytes) => target - (4 + (leafBytes + 5) + copies * (intermediateDer + 5)));
    add(id, { key: rsa2048, cert: Buffer.concat([padded, Buffer.from("\n"), ...Array.from({ length: copies }, () => intermediate)]) });
  }

  // RSA + ECDSA values where one half is unfit for one protocol.
  const goodRsa = make.leaf("dual-rsa", rsa2048);
  const goodEc = make.leaf("dual-ec", p256);
  add("dual-rsa512-ec", make.leaf("dual-rsa512", rsaKeys.get(512)!), goodEc);
  add("dual-rsa521-ec", make.leaf("dual-rsa521", rsaKeys.get(521)!), goodEc);
  add("dual-rsa-ec-ku-ka", goodRsa, make.leaf("dual-ec-ka", p256, "keyUsage=critical,keyAgreement\n"));
  add("dual-rsa-ke-ec", make.leaf("dual-rsa-ke", rsa2048, "keyUsage=critical,keyEncipherment\n"), goodEc);
  add(
    "dual-rsa512-ec-ku-ka",
    make.leaf("dual-rsa512b", rsaKeys.get(512)!),
    make.leaf("dual-ec-kab", p256, "keyUsage=critical,keyAgreement\n"),
  );
  warned("dual-rsa-ec-eku-client", goodRsa, make.leaf("dual-ec-client", p256, "extendedKeyUsage=clientAuth\n"));
  add("dual-rsa-ec-big-chain", goodRsa, chainedEc(make, p256, intermediate, fits + 2));

  const big = Buffer.from(await new Response(rsa8192.stdout).text());
  if ((await rsa8192.exited) !== 0) throw new Error("openssl genpkey RSA 8192 failed");
  add("rsa8192", make.leaf("rsa8192", big));
  if (largeRsaKey) add("rsa16384", make.leaf("rsa16384", largeRsaKey));
  return variants;
}

/** A leaf whose DER size makes `missing(size)` zero: a comment extension grown or shrunk until it does. */
function paddedLeaf(make: Maker, key: Buffer, name: string, missing: (leafBytes: number) => number): Buffer {
  let comment = 600;
  for (let attempt = 0; attempt < 8; attempt++) {
    const leaf = make.leaf(name, key, `nsComment="${"x".repeat(comment)}"\n`).cert;
    const pem = leaf.subarray(0, leaf.indexOf("-----END CERTIFICATE-----") + 26);
    const gap = missing(derLength(pem));
    if (gap === 0) return pem;
    comment += gap;
  }
  throw new Error(`could not pad the leaf ${name} to the byte`);
}

function chainedEc(make: Maker, key: Buffer, intermediate: Buffer, copies: number): Pair {
  const leaf = make.leaf("dual-ec-chain", key);
  const leafPem = leaf.cert.subarray(0, leaf.cert.indexOf("-----END CERTIFICATE-----") + 26);
  return { key, cert: Buffer.concat([leafPem, Buffer.from("\n"), ...Array.from({ length: copies }, () => intermediate)]) };
}
