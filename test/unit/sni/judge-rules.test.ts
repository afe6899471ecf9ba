import { beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { judgeSource, type PairBytes, pairWarnings } from "../../../src/sni/judge.ts";
import type { PairReport } from "../../../src/sni/types.ts";
import { tempDirs } from "../../support/fixture.ts";

// docs/map-rules.md on one source's pairs: what is mapped, what is left out and the words
// each refusal gets (Postfix's loader, the hints an admin needs, key types clients cannot use,
// the ECDSA pair beside the main one), and the warnings of a usable pair. Key material is made
// once for this file with the openssl command line; nothing is written where a run would look.

const tempDir = tempDirs("mpi-judge-rules-");
let dir: string;

function openssl(args: string[], input?: Buffer): Buffer {
  const result = Bun.spawnSync(["openssl", ...args], { stdin: input ?? "ignore", stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${result.stderr.toString()}`);
  return result.stdout;
}

interface Pem {
  key: Buffer;
  cert: Buffer;
}

function selfSigned(name: string, algorithm: string[], extra: string[] = []): Pem {
  const key = openssl(["genpkey", ...algorithm]);
  const keyFile = join(dir, `${name}.key`);
  writeFileSync(keyFile, key, { mode: 0o600 });
  const args = ["req", "-x509", "-new", "-key", keyFile, "-subj", `/CN=${name}.test`, "-addext", `subjectAltName=DNS:${name}.test`];
  return { key, cert: openssl([...args, "-days", "30", ...extra]) };
}

const p256 = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"];
let rsa: Pem;
let ec: Pem;
let ec2: Pem;
let k1: Pem;
let rsa512: Pem;
let clientOnly: Pem;

beforeAll(() => {
  dir = tempDir();
  rsa = selfSigned("rsa", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"]);
  ec = selfSigned("ec", p256);
  ec2 = selfSigned("ec2", p256);
  k1 = selfSigned("k1", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp256k1"]);
  rsa512 = selfSigned("rsa512", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:512"]);
  clientOnly = selfSigned("client", p256, ["-addext", "extendedKeyUsage=clientAuth"]);
});

const MAIN = { keyFile: "/ssl/d/key.pem", certFile: "/ssl/d/cert.pem" };
const ECDSA = { keyFile: "/ssl/d/ecdsa-key.pem", certFile: "/ssl/d/ecdsa-cert.pem" };
const bytes = (pem: Pem, files = MAIN): PairBytes => ({ ok: true, files, key: pem.key, cert: pem.cert });
const unreadable = (files = MAIN): Extract<PairBytes, { ok: false }> => ({
  ok: false,
  files,
  missing: true,
  report: { files, certificateNames: [], keyMatches: false, valid: false, failure: { code: "unreadable", reason: "cannot read" } },
});
const failure = (report: PairReport | undefined) => report?.failure && `${report.failure.code}: ${report.failure.reason}`;

describe("one pair", () => {
  test("a pair Postfix loads: valid, with its names, dates, key type and size", () => {
    const { main, ecdsa, withEcdsa } = judgeSource(bytes(ec), undefined);
    expect({ ecdsa, withEcdsa }).toEqual({ ecdsa: undefined, withEcdsa: false });
    expect(main).toMatchObject({
      files: MAIN,
      certificateNames: ["ec.test"],
      rejectedNames: [],
      keyType: "EC",
      curve: "prime256v1",
      bits: 256,
      keyMatches: true,
      valid: true,
    });
    expect(main.failure).toBeUndefined();
    expect(main.verifierWarnings).toBeUndefined();
    const days = (Date.parse(main.notAfter!) - Date.parse(main.notBefore!)) / (24 * 60 * 60 * 1000);
    expect(days).toBe(30);
  });

  test("a pair Postfix refuses: not valid, no names, Postfix's reason", () => {
    const { main } = judgeSource(bytes({ key: ec2.key, cert: ec.cert }), undefined);
    expect(main).toMatchObject({ certificateNames: [], keyMatches: false, valid: false });
    expect(failure(main)).toStartWith(
      "key-mismatch: Postfix would not load this pair: the private key in /ssl/d/key.pem does not match the certificate in /ssl/d/cert.pem",
    );
  });

  test("what an admin cannot see gets a hint: a byte-order mark, an empty file, a DER file, an indented BEGIN line", () => {
    const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), ec.cert]);
    expect(failure(judgeSource(bytes({ key: ec.key, cert: bom }), undefined).main)).toEndWith(
      " (/ssl/d/cert.pem starts with a UTF-8 byte-order mark, which hides its first PEM block from Postfix: save it without one)",
    );
    expect(failure(judgeSource(bytes({ key: ec.key, cert: Buffer.alloc(0) }), undefined).main)).toBe(
      "cert-missing: Postfix would not load this pair: no certificate follows the private key in /ssl/d/key.pem (/ssl/d/cert.pem is empty)",
    );
    const der = openssl(["x509", "-outform", "DER"], ec.cert);
    expect(failure(judgeSource(bytes({ key: ec.key, cert: der }), undefined).main)).toEndWith(
      " (/ssl/d/cert.pem holds no PEM block: a DER file must be converted to PEM)",
    );
    const indented = Buffer.from(ec.cert.toString().replace("-----BEGIN", "  -----BEGIN"));
    expect(failure(judgeSource(bytes({ key: ec.key, cert: indented }), undefined).main)).toEndWith(
      " (/ssl/d/cert.pem has spaces before its BEGIN line, which hides that block from Postfix)",
    );
    // Spaces before one BEGIN line of a chain whose first block is read: no hint.
    const chainIndented = Buffer.concat([ec.cert, Buffer.from(`  ${ec2.cert.toString()}`)]);
    const withoutHint = failure(judgeSource(bytes({ key: ec2.key, cert: chainIndented }), undefined).main)!;
    expect(withoutHint).toStartWith("key-mismatch:");
    expect(withoutHint).toMatch(/\(OpenSSL: [^()]*\)$/); // OpenSSL's words end it: no hint after them
  });

  test("a hint says only what it names: part of a byte-order mark, or text and a space before BEGIN, get neither", () => {
    const hidden = "cert-missing: Postfix would not load this pair: no certificate follows the private key in /ssl/d/key.pem";
    for (const start of [
      [0xef, 0xbb, 0x00],
      [0xef, 0x00, 0xbf],
      [0x00, 0xbb, 0xbf],
    ]) {
      const cert = Buffer.concat([Buffer.from(start), ec.cert]);
      expect(failure(judgeSource(bytes({ key: ec.key, cert }), undefined).main)).toBe(hidden);
    }
    const cert = Buffer.from(ec.cert.toString().replace("-----BEGIN", "see below -----BEGIN"));
    expect(failure(judgeSource(bytes({ key: ec.key, cert }), undefined).main)).toBe(hidden);
  });

  test("a key file holding a second key and chain: the pairs no longer line up with the map line", () => {
    const combined = Buffer.concat([rsa.key, rsa.cert, ec.key]);
    expect(failure(judgeSource(bytes({ key: combined, cert: ec.cert }), undefined).main)).toBe(
      "chain-count: Postfix would not load this pair: Postfix installs 2 key+chain group(s) from these 2 files",
    );
  });

  test("a key type clients cannot use (EC on secp256k1): not mapped, a warning naming the key and its curve", () => {
    const { main } = judgeSource(bytes(k1), undefined);
    expect(main).toMatchObject({ valid: false, keyMatches: true, keyType: "EC", curve: "secp256k1" });
    expect(main.failure).toEqual({
      code: "key-type-unusable",
      reason:
        "/ssl/d/key.pem is a EC (secp256k1) key: Postfix loads it, but common TLS clients cannot use it and would abort the handshake",
      severity: "warning",
    });
    expect(judgeSource(bytes(rsa), undefined).main.valid).toBe(true);
  });

  test("the key types clients use are mapped: EC on P-384 and P-521, RSA-PSS, Ed25519, Ed448", () => {
    for (const [name, algorithm] of [
      ["p384", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"]],
      ["p521", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"]],
      ["pss", ["-algorithm", "RSA-PSS", "-pkeyopt", "rsa_keygen_bits:1024"]],
      ["ed25519", ["-algorithm", "ED25519"]],
      ["ed448", ["-algorithm", "ED448"]],
    ] as const) {
      const { main } = judgeSource(bytes(selfSigned(name, [...algorithm])), undefined);
      expect({ name, valid: main.valid, failure: main.failure }).toEqual({ name, valid: true, failure: undefined });
    }
  });

  test("a value Postfix loads but clients cannot use: not valid, both said", () => {
    const { main } = judgeSource(bytes(rsa512), undefined);
    expect(main.valid).toBe(false);
    expect(failure(main)).toStartWith("rsa-key-too-small: Postfix loads it, but /ssl/d/key.pem is a 512-bit RSA key");
  });

  test("what verifying clients refuse is a warning kept on a valid pair", () => {
    const { main } = judgeSource(bytes(clientOnly), undefined);
    expect(main.valid).toBe(true);
    expect(main.verifierWarnings?.map((warning) => warning.code)).toEqual(["not-for-servers"]);
  });

  test("an unreadable main pair is its own report, and so is an unreadable ECDSA pair beside it", () => {
    expect(judgeSource(unreadable(), unreadable(ECDSA))).toEqual({
      main: unreadable().report,
      ecdsa: unreadable(ECDSA).report,
      withEcdsa: false,
    });
    expect(judgeSource(unreadable(), bytes(ec, ECDSA))).toEqual({ main: unreadable().report, ecdsa: undefined, withEcdsa: false });
  });
});

describe("the ECDSA pair beside the main pair", () => {
  test("both load together: both in the value", () => {
    const judged = judgeSource(bytes(rsa), bytes(ec, ECDSA));
    expect(judged.withEcdsa).toBe(true);
    expect([judged.main.keyType, judged.ecdsa?.keyType, judged.main.valid, judged.ecdsa?.valid]).toEqual(["RSA", "EC", true, true]);
  });

  test("broken on its own: left out with its own reason; the main pair is judged alone", () => {
    const judged = judgeSource(bytes(rsa), bytes({ key: ec2.key, cert: ec.cert }, ECDSA));
    expect(judged.withEcdsa).toBe(false);
    expect(judged.main).toMatchObject({ valid: true, keyType: "RSA" });
    expect(failure(judged.ecdsa)).toStartWith(
      "key-mismatch: Postfix would not load this pair: the private key in /ssl/d/ecdsa-key.pem does not match the certificate in /ssl/d/ecdsa-cert.pem",
    );
  });

  test("fine alone but not beside the main pair (two keys of one type): left out, saying so", () => {
    const judged = judgeSource(bytes(ec), bytes(ec2, ECDSA));
    expect(judged.withEcdsa).toBe(false);
    expect(judged.main.valid).toBe(true);
    expect(judged.ecdsa).toMatchObject({ valid: false, keyType: "EC", certificateNames: ["ec2.test"] });
    expect(failure(judged.ecdsa)).toMatch(
      /^pair-refused: beside the main pair, Postfix would not load this pair: OpenSSL refuses the key in \/ssl\/d\/ecdsa-key\.pem with the certificate in \/ssl\/d\/ecdsa-cert\.pem/,
    );
  });

  test("fine alone, but the two together are unusable for clients: left out, with the clients' reason", () => {
    // RSA-512 alone fails TLS 1.3 only; beside a P-256 pair TLS 1.3 takes the EC pair. A
    // secp256k1 pair beside a good RSA pair is refused for its key type.
    const judged = judgeSource(bytes(rsa), bytes(k1, ECDSA));
    expect(judged.withEcdsa).toBe(false);
    expect(judged.main.valid).toBe(true);
    expect(judged.ecdsa?.failure?.code).toBe("key-type-unusable");
  });

  test("an unreadable ECDSA pair is reported; the main pair is served alone", () => {
    const judged = judgeSource(bytes(rsa), unreadable(ECDSA));
    expect(judged).toMatchObject({ withEcdsa: false, main: { valid: true }, ecdsa: unreadable(ECDSA).report });
  });
});

describe("warnings of a usable pair", () => {
  const NOW = new Date("2026-06-01T12:00:00Z");
  const DAY = 24 * 60 * 60 * 1000;
  const report = (fields: Partial<PairReport>): PairReport => ({
    files: MAIN,
    certificateNames: [],
    keyMatches: true,
    valid: true,
    ...fields,
  });
  const warnings = (fields: Partial<PairReport>) =>
    pairWarnings(report(fields), "/ssl/d", NOW).map(
      (problem) => `${problem.severity} ${problem.code} ${problem.source}: ${problem.message}`,
    );
  const at = (ms: number) => new Date(NOW.getTime() + ms).toISOString();

  test("chain order, expiry, start date and verifier warnings, one line each", () => {
    expect(warnings({ chainBreak: 3 })).toEqual([
      "warning chain-order /ssl/d: /ssl/d: certificate 3 in /ssl/d/cert.pem did not issue certificate 2; clients may not build the chain",
    ]);
    expect(warnings({ notAfter: at(-DAY) })).toEqual([
      `warning expired /ssl/d: /ssl/d: /ssl/d/cert.pem expired on ${at(-DAY)}; clients that verify will reject it`,
    ]);
    expect(warnings({ notAfter: at(0) })[0]).toContain(" expired ");
    expect(warnings({ notAfter: at(3 * DAY + 5000) })).toEqual([
      `warning expires-soon /ssl/d: /ssl/d: /ssl/d/cert.pem expires in 3 days (${at(3 * DAY + 5000)})`,
    ]);
    expect(warnings({ notAfter: at(14 * DAY - 1) })[0]).toContain("expires in 13 days");
    expect(warnings({ notAfter: at(14 * DAY) })).toEqual([]);
    expect(warnings({ notBefore: at(1000) })).toEqual([
      `warning not-yet-valid /ssl/d: /ssl/d: /ssl/d/cert.pem is not valid before ${at(1000)}`,
    ]);
    expect(warnings({ notBefore: at(0), notAfter: at(30 * DAY) })).toEqual([]);
    expect(warnings({ verifierWarnings: [{ code: "weak-signature", message: "signed with SHA1" }] })).toEqual([
      "warning weak-signature /ssl/d: /ssl/d: signed with SHA1",
    ]);
  });

  test("a pair that is not mapped gets none: its failure says it all", () => {
    expect(warnings({ valid: false, chainBreak: 2, notAfter: at(-DAY) })).toEqual([]);
  });
});
