import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

// A corpus of certificate files as admins and tools write them: every key type Postfix may
// meet, and the PEM framings editors, copy scripts and ACME clients produce. All key material
// is generated here with the openssl command line, for this run only.

export interface PairFiles {
  key: Buffer;
  cert: Buffer;
}

export interface Variant {
  id: string;
  /** The main pair (key.pem + cert.pem) of a certificate directory. */
  main: PairFiles;
  /** An ecdsa-key.pem + ecdsa-cert.pem pair beside a good RSA main pair. */
  ecdsa?: PairFiles;
}

interface Material {
  key: Buffer;
  cert: Buffer;
}

function openssl(args: string[], input?: Buffer): Buffer {
  const result = Bun.spawnSync(["openssl", ...args], { stdin: input ?? "ignore", stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${result.stderr.toString()}`);
  return result.stdout;
}

/** A self-signed certificate for KEY (PEM). */
function selfSigned(dir: string, name: string, key: Buffer, extra: string[] = []): Buffer {
  const keyFile = join(dir, `${name}.key`);
  writeFileSync(keyFile, key, { mode: 0o600 });
  return openssl([
    "req",
    "-x509",
    "-new",
    "-key",
    keyFile,
    "-subj",
    `/CN=${name}.corpus.test`,
    "-addext",
    `subjectAltName=DNS:${name}.corpus.test`,
    "-days",
    "30",
    ...extra,
  ]);
}

function generated(dir: string, name: string, algorithmArgs: string[], certArgs: string[] = []): Material {
  const key = openssl(["genpkey", ...algorithmArgs]);
  return { key, cert: selfSigned(dir, name, key, certArgs) };
}

/** Root -> intermediate -> leaf, each PEM. */
export function chain(dir: string): { leaf: Material; intermediate: Buffer; root: Buffer } {
  const ext = join(dir, "ca.ext");
  writeFileSync(ext, "basicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign\n");
  const leafExt = join(dir, "leaf.ext");
  writeFileSync(leafExt, "subjectAltName=DNS:leaf.corpus.test\n");
  const rootKey = join(dir, "root.key");
  writeFileSync(rootKey, openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]));
  const rootCert = join(dir, "root.pem");
  writeFileSync(
    rootCert,
    openssl([
      "req",
      "-x509",
      "-new",
      "-key",
      rootKey,
      "-subj",
      "/CN=Corpus Root",
      "-days",
      "30",
      "-addext",
      "basicConstraints=critical,CA:true",
    ]),
  );
  const sign = (subject: string, key: string, ca: string, caKey: string, extfile: string) => {
    const csr = openssl(["req", "-new", "-key", key, "-subj", subject]);
    return openssl(["x509", "-req", "-CA", ca, "-CAkey", caKey, "-CAcreateserial", "-days", "30", "-extfile", extfile], csr);
  };
  const intermediateKey = join(dir, "intermediate.key");
  writeFileSync(intermediateKey, openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]));
  const intermediate = sign("/CN=Corpus Intermediate", intermediateKey, rootCert, rootKey, ext);
  const intermediateFile = join(dir, "intermediate.pem");
  writeFileSync(intermediateFile, intermediate);
  const leafKeyFile = join(dir, "leaf.key");
  const leafKey = openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]);
  writeFileSync(leafKeyFile, leafKey);
  const leafCert = sign("/CN=leaf.corpus.test", leafKeyFile, intermediateFile, intermediateKey, leafExt);
  return { leaf: { key: leafKey, cert: leafCert }, intermediate, root: readFileSync(rootCert) };
}

const text = (value: Buffer) => value.toString("latin1");
const bytes = (value: string) => Buffer.from(value, "latin1");
const cat = (...parts: (Buffer | string)[]) => Buffer.concat(parts.map((part) => (typeof part === "string" ? bytes(part) : part)));
/** Transform the text of a PEM file. */
const edit = (value: Buffer, change: (pem: string) => string) => bytes(change(text(value)));
const lines = (value: Buffer) => text(value).split("\n");
const der = (pem: Buffer, kind: "x509" | "pkey") =>
  openssl(kind === "x509" ? ["x509", "-outform", "DER"] : ["pkey", "-outform", "DER"], pem);

/** Build the corpus in DIR (scratch space for openssl). RSA-8192 generation runs in the background. */
export async function makeCorpus(dir: string): Promise<Variant[]> {
  mkdirSync(dir, { recursive: true });
  const rsa8192 = Bun.spawn(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:8192"], {
    stdout: "pipe",
    stderr: "ignore",
  });
  const rsaKey = (bits: number) => ["-algorithm", "RSA", "-pkeyopt", `rsa_keygen_bits:${bits}`];
  const ecKey = (curve: string) => ["-algorithm", "EC", "-pkeyopt", `ec_paramgen_curve:${curve}`];
  const rsa = generated(dir, "rsa2048", rsaKey(2048));
  const other = generated(dir, "other2048", rsaKey(2048));
  const rsa1024 = generated(dir, "rsa1024", rsaKey(1024));
  const rsa3072 = generated(dir, "rsa3072", rsaKey(3072));
  const rsa4096 = generated(dir, "rsa4096", rsaKey(4096));
  const p256 = generated(dir, "p256", ecKey("P-256"));
  const p384 = generated(dir, "p384", ecKey("P-384"));
  const p521 = generated(dir, "p521", ecKey("P-521"));
  const k1 = generated(dir, "secp256k1", ecKey("secp256k1"));
  const brainpool = generated(dir, "brainpool", ecKey("brainpoolP256r1"));
  const ed25519 = generated(dir, "ed25519", ["-algorithm", "ED25519"]);
  const ed448 = generated(dir, "ed448", ["-algorithm", "ED448"]);
  const pss = generated(dir, "rsapss", ["-algorithm", "RSA-PSS", "-pkeyopt", "rsa_keygen_bits:2048"]);
  const dsaParams = join(dir, "dsa.params");
  writeFileSync(dsaParams, openssl(["genpkey", "-genparam", "-algorithm", "DSA", "-pkeyopt", "dsa_paramgen_bits:2048"]));
  const dsa = generated(dir, "dsa", ["-paramfile", dsaParams], ["-sha256"]);
  const explicitEc = (() => {
    const key = openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-param_enc", "explicit"]);
    return { key, cert: selfSigned(dir, "explicit", key) };
  })();
  const traditional = (material: Material, _label: string) => ({
    key: openssl(["pkey", "-traditional"], material.key),
    cert: material.cert,
  });
  const withParams: Material = { key: openssl(["ecparam", "-name", "prime256v1", "-genkey"]), cert: Buffer.alloc(0) };
  withParams.cert = selfSigned(dir, "ecparams", openssl(["pkey"], withParams.key));
  const encryptedPkcs8 = openssl(["pkey", "-aes256", "-passout", "pass:secret"], rsa.key);
  const encryptedTraditional = openssl(["rsa", "-aes256", "-passout", "pass:secret", "-traditional"], rsa.key);
  const trusted = openssl(["x509", "-trustout"], rsa.cert);
  const textual = openssl(["x509", "-text"], rsa.cert);
  const tree = chain(dir);
  const bigKey = Buffer.from(await new Response(rsa8192.stdout).text());
  if ((await rsa8192.exited) !== 0) throw new Error("openssl genpkey RSA 8192 failed");
  const rsa8192Pair = { key: bigKey, cert: selfSigned(dir, "rsa8192", bigKey) };

  const bom = "\ufeff";
  const { key, cert } = rsa;
  const certLines = lines(cert);
  const keyLines = lines(key);
  const main = (id: string, pair: PairFiles): Variant => ({ id, main: pair });
  const besideRsa = (id: string, pair: PairFiles): Variant => ({ id: `ecdsa-${id}`, main: rsa, ecdsa: pair });
  const half = (value: Buffer) => value.subarray(0, Math.floor(value.length / 2));

  return [
    // Key types and encodings.
    main("rsa2048-pkcs8", rsa),
    main("rsa2048-pkcs1", traditional(rsa, "rsa")),
    main("rsa1024-pkcs8", rsa1024),
    main("rsa1024-pkcs1", traditional(rsa1024, "rsa")),
    main("rsa3072", rsa3072),
    main("rsa4096-pkcs8", rsa4096),
    main("rsa4096-pkcs1", traditional(rsa4096, "rsa")),
    main("rsa8192", rsa8192Pair),
    main("p256-pkcs8", p256),
    main("p256-sec1", traditional(p256, "ec")),
    main("p384-pkcs8", p384),
    main("p384-sec1", traditional(p384, "ec")),
    main("p521-pkcs8", p521),
    main("p521-sec1", traditional(p521, "ec")),
    main("p256-ec-parameters-first", withParams),
    main("p256-explicit-parameters", explicitEc),
    main("secp256k1", k1),
    main("brainpoolP256r1", brainpool),
    main("ed25519", ed25519),
    main("ed448", ed448),
    main("rsa-pss", pss),
    main("dsa-pkcs8", dsa),
    main("dsa-traditional", traditional(dsa, "dsa")),
    main("encrypted-pkcs8", { key: encryptedPkcs8, cert }),
    main("encrypted-traditional", { key: encryptedTraditional, cert }),
    // PEM framing.
    main("bom-cert", { key, cert: cat(bom, cert) }),
    main("bom-key", { key: cat(bom, key), cert }),
    main("crlf", { key: edit(key, (pem) => pem.replaceAll("\n", "\r\n")), cert: edit(cert, (pem) => pem.replaceAll("\n", "\r\n")) }),
    main("cr-only", { key, cert: edit(cert, (pem) => pem.replaceAll("\n", "\r")) }),
    main("indented-begin", { key, cert: edit(cert, (pem) => pem.replace("-----BEGIN", "  -----BEGIN")) }),
    main("indented-base64", {
      key,
      cert: bytes(certLines.map((line) => (line.startsWith("-----") || line === "" ? line : `  ${line}`)).join("\n")),
    }),
    main("tab-indented-key", {
      key: bytes(keyLines.map((line) => (line.startsWith("-----") || line === "" ? line : `\t${line}`)).join("\n")),
      cert,
    }),
    main("text-before", { key: cat("# key for mail.example.test\n", key), cert: cat("subject=CN = rsa2048\nissuer=CN = rsa2048\n", cert) }),
    main("x509-text-output", { key, cert: textual }),
    main("text-after", { key: cat(key, "written by a script\n"), cert: cat(cert, "\n-- end of file --\n") }),
    main("text-between-chain", { key: tree.leaf.key, cert: cat(tree.leaf.cert, "intermediate follows\n", tree.intermediate) }),
    main("binary-after", { key, cert: cat(cert, Buffer.from([0xff, 0xfe, 0x01, 0x7f])) }),
    main("nul-after", { key, cert: cat(cert, Buffer.from([0x00]), "junk") }),
    main("nul-in-key", { key: cat(key.subarray(0, 60), Buffer.from([0x00]), key.subarray(60)), cert }),
    main("truncated-cert", { key, cert: half(cert) }),
    main("truncated-key", { key: half(key), cert }),
    main("begin-only-cert", { key, cert: bytes(`${certLines[0]}\n${certLines[1]}\n`) }),
    main("blank-line-in-base64", { key, cert: bytes([...certLines.slice(0, 4), "", ...certLines.slice(4)].join("\n")) }),
    main("one-long-base64-line", { key, cert: bytes(`${certLines[0]}\n${certLines.slice(1, -2).join("")}\n${certLines.at(-2)}\n`) }),
    main("no-trailing-newline", { key: bytes(text(key).trimEnd()), cert: bytes(text(cert).trimEnd()) }),
    main("trailing-space-end-line", {
      key,
      cert: edit(cert, (pem) => pem.replace("-----END CERTIFICATE-----", "-----END CERTIFICATE----- ")),
    }),
    main("lowercase-label", { key, cert: edit(cert, (pem) => pem.replaceAll("CERTIFICATE", "certificate")) }),
    main("x509-certificate-label", { key, cert: edit(cert, (pem) => pem.replaceAll("CERTIFICATE", "X509 CERTIFICATE")) }),
    main("trusted-certificate-label", { key, cert: trusted }),
    main("header-in-cert", { key, cert: edit(cert, (pem) => pem.replace("-----\n", "-----\nComment: hello\n\n")) }),
    main("pkcs8-in-rsa-label", { key: edit(key, (pem) => pem.replaceAll("PRIVATE KEY", "RSA PRIVATE KEY")), cert }),
    main("pkcs1-in-pkcs8-label", {
      key: edit(traditional(rsa, "rsa").key, (pem) => pem.replaceAll("RSA PRIVATE KEY", "PRIVATE KEY")),
      cert,
    }),
    main("public-key-in-key-file", { key: cat(openssl(["pkey", "-pubout"], key), key), cert }),
    main("crl-label-after-cert", { key, cert: cat(cert, "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n") }),
    main("der-cert", { key, cert: der(cert, "x509") }),
    main("der-key", { key: der(key, "pkey"), cert }),
    main("empty-cert", { key, cert: Buffer.alloc(0) }),
    main("empty-key", { key: Buffer.alloc(0), cert }),
    // Several objects.
    main("two-keys", { key: cat(key, other.key), cert }),
    main("key-inside-cert-file", { key, cert: cat(cert, key) }),
    main("key-first-in-cert-file", { key, cert: cat(key, cert) }),
    main("cert-inside-key-file", { key: cat(key, cert), cert }),
    main("mismatched-key", { key: other.key, cert }),
    main("chain-in-order", { key: tree.leaf.key, cert: cat(tree.leaf.cert, tree.intermediate) }),
    main("chain-with-root", { key: tree.leaf.key, cert: cat(tree.leaf.cert, tree.intermediate, tree.root) }),
    main("chain-reversed", { key: tree.leaf.key, cert: cat(tree.intermediate, tree.leaf.cert) }),
    main("chain-wrong-order-issuers", { key: tree.leaf.key, cert: cat(tree.leaf.cert, tree.root, tree.intermediate) }),
    main("intermediate-only", { key: tree.leaf.key, cert: tree.intermediate }),
    main("two-leaves", { key, cert: cat(other.cert, cert) }),
    // The ecdsa pair beside a good RSA pair.
    besideRsa("p256", p256),
    besideRsa("p384-sec1", traditional(p384, "ec")),
    besideRsa("ec-parameters-first", withParams),
    besideRsa("mismatched", { key: p256.key, cert: p384.cert }),
    besideRsa("rsa-again", other),
    besideRsa("ed25519", ed25519),
    besideRsa("secp256k1", k1),
    besideRsa("dsa", dsa),
    besideRsa("truncated-cert", { key: p256.key, cert: half(p256.cert) }),
    besideRsa("bom-cert", { key: p256.key, cert: cat(bom, p256.cert) }),
    besideRsa("empty-cert", { key: p256.key, cert: Buffer.alloc(0) }),
    besideRsa("encrypted-key", { key: openssl(["pkey", "-aes256", "-passout", "pass:secret"], p256.key), cert: p256.cert }),
  ];
}
