import { afterAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadLikePostfix } from "../../../src/sni/postfix-loader.ts";
import { makeCertificate } from "../../support/certs.ts";
import { mallocInUse } from "../../support/malloc-in-use.ts";
import { chain } from "../../support/pem-corpus.ts";
import { makeTempDir } from "../../support/tmp.ts";

// `watch` judges every renewal in one process that runs for months, and a cold start judges
// thousands of pairs: judging keeps nothing of a value once its verdict is given. Every OpenSSL
// object a judgement makes (the value's BIO, the connection, each PEM object's buffers, keys,
// certificates, the chain's stack, a PKCS#8 key's info) is freed, on every way to a verdict.
// OpenSSL allocates through glibc's malloc: what it still holds after many judgements is the
// measure (test/support/malloc-in-use.ts).

const temp = makeTempDir("mpi-loader-memory-");
afterAll(() => temp.cleanup());

const read = (made: { keyFile: string; certFile: string }) => ({ key: readFileSync(made.keyFile), cert: readFileSync(made.certFile) });
const ec = read(makeCertificate(join(temp.path, "ec"), { names: ["ec.test"] }));
const other = read(makeCertificate(join(temp.path, "other"), { names: ["other.test"] }));
const rsa = read(makeCertificate(join(temp.path, "rsa"), { names: ["rsa.test"], keyType: "rsa" }));
const tree = chain(temp.path);
const openssl = (args: string[], input: Buffer) => Bun.spawnSync(["openssl", ...args], { stdin: input }).stdout as Buffer;
const traditionalEc = openssl(["ec"], ec.key); // "EC PRIVATE KEY": decoded by its type, not as PKCS#8
const pem = (label: string, der: Uint8Array) =>
  Buffer.from(`-----BEGIN ${label}-----\n${Buffer.from(der).toString("base64")}\n-----END ${label}-----\n`);
const withExtraBytes = (label: string, der: Buffer) => pem(label, Buffer.concat([der, Buffer.from([0x05, 0x00])]));
const certDer = openssl(["x509", "-outform", "DER"], ec.cert);
/** Files joined as postmap -F joins them. */
const joined = (...parts: Buffer[]) => Buffer.concat(parts.flatMap((part, index) => (index === 0 ? [part] : [Buffer.from("\n"), part])));

/** One value for each way to a verdict, and what each gives. */
const VALUES: [string, Buffer][] = [
  ["loads", joined(ec.key, ec.cert)],
  ["loads", joined(tree.leaf.key, tree.leaf.cert, tree.intermediate, tree.root)],
  ["loads", joined(rsa.key, rsa.cert, ec.key, ec.cert)],
  ["loads", joined(traditionalEc, ec.cert)],
  ["loads", joined(openssl(["ecparam", "-name", "prime256v1"], Buffer.alloc(0)), ec.key, ec.cert)],
  ["key-mismatch", joined(other.key, ec.cert)],
  ["key-mismatch", joined(other.key, ec.cert, rsa.key, rsa.cert)],
  ["key-twice", joined(ec.key, other.key, ec.cert)],
  ["key-not-first", joined(ec.cert, ec.key)],
  ["cert-invalid", joined(ec.key, withExtraBytes("CERTIFICATE", certDer))],
  ["cert-invalid", joined(ec.key, pem("CERTIFICATE", Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01])))],
  ["key-invalid", joined(withExtraBytes("EC PRIVATE KEY", openssl(["ec", "-outform", "DER"], ec.key)), ec.cert)],
  ["key-invalid", joined(pem("PRIVATE KEY", certDer), ec.cert)],
  ["cert-missing", joined(ec.key)],
  ["pem-damaged", joined(ec.key, Buffer.from("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"))],
  ["no-pem", Buffer.alloc(0)],
];

const judgeAll = () =>
  VALUES.map(([, value]) => {
    const verdict = loadLikePostfix(value);
    return verdict.loads ? "loads" : verdict.code;
  });

test("every way to a verdict is taken by one of these values", () => {
  expect(judgeAll()).toEqual(VALUES.map(([verdict]) => verdict));
});

test("judging the same values again and again leaves nothing allocated", () => {
  // Warmed up first: OpenSSL fills its caches (error strings, decoders), the runtime compiles.
  for (let round = 0; round < 60; round++) judgeAll();
  // A freed object can leave its heap block behind to be reused, and the runtime allocates now
  // and then; a leak grows in every stretch. The least growth of six stretches is what each keeps.
  const ROUNDS = 20;
  const growth: number[] = [];
  for (let stretch = 0; stretch < 6; stretch++) {
    const before = mallocInUse();
    for (let round = 0; round < ROUNDS; round++) judgeAll();
    growth.push(mallocInUse() - before);
  }
  // Measured: the least missed free, the chain's stack (made once per pair), keeps 8,600 bytes
  // over 20 rounds, a PKCS#8 key's info 160,000; without one the least of six stretches grew by
  // 0-800 bytes (up to 12,000 in the others).
  expect(Math.min(...growth)).toBeLessThan(2_000);
});
