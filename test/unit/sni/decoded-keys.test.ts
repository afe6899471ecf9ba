import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DecodedKeys } from "../../../src/sni/decoded-keys.ts";
import { loadLikePostfix } from "../../../src/sni/postfix-loader.ts";
import { makeCertificate } from "../../support/certs.ts";
import { tempDirs } from "../../support/fixture.ts";

// mailcow's acme copies one shared key into every certificate directory: a validation decodes
// each distinct key once (decoded-keys.ts). Every verdict must be what judging the pair alone
// gives: a shared key that matches one certificate and not another, a key decoded before its
// memo was freed, a key whose PEM holds more than its DER.

const tempDir = tempDirs("mpi-decoded-keys-");
const value = (keyFile: string, certFile: string) => Buffer.concat([readFileSync(keyFile), Buffer.from("\n"), readFileSync(certFile)]);
const verdictOf = (bytes: Uint8Array, keys?: DecodedKeys) => {
  const verdict = loadLikePostfix(bytes, [], keys);
  return verdict.loads ? { loads: true, chains: verdict.chains.map((chain) => [chain.keyType, chain.bits]) } : verdict;
};

test("pairs sharing one key: the key is decoded once, and every pair gets the verdict it gets alone", () => {
  const dir = tempDir();
  const shared = makeCertificate(join(dir, "a"), { names: ["a.test"], keyType: "rsa" });
  const second = makeCertificate(join(dir, "b"), { names: ["b.test"], existingKey: shared.keyFile });
  const stranger = makeCertificate(join(dir, "c"), { names: ["c.test"], keyType: "rsa" });
  const values = [
    value(shared.keyFile, shared.certFile),
    value(second.keyFile, second.certFile),
    value(shared.keyFile, stranger.certFile), // the shared key with another key's certificate
    value(shared.keyFile, shared.certFile),
  ];
  const alone = values.map((bytes) => verdictOf(bytes));
  expect(alone.map((verdict) => verdict.loads)).toEqual([true, true, false, true]);
  expect(alone[2]).toMatchObject({ code: "key-mismatch" });

  const keys = new DecodedKeys();
  let decodes = 0;
  const counting = new Proxy(keys, {
    get: (target, property) =>
      property === "take"
        ? (...args: Parameters<DecodedKeys["take"]>) =>
            target.take(args[0], args[1], args[2], () => {
              decodes++;
              return args[3]();
            })
        : Reflect.get(target, property),
  });
  expect(values.map((bytes) => verdictOf(bytes, counting))).toEqual(alone);
  expect(decodes).toBe(1);
  keys.free();
  // What was handed out before the memo was freed is released by its holders: judging goes on.
  expect(verdictOf(values[1]!, new DecodedKeys())).toEqual(alone[1]!);
  // A freed memo holds no key: used again, it decodes again.
  expect(verdictOf(values[0]!, counting)).toEqual(alone[0]!);
  expect(decodes).toBe(2);
  keys.free();
});

test("a key block with bytes after its DER is refused each time, whether decoded before or not", () => {
  const dir = tempDir();
  const pair = makeCertificate(dir, { names: ["a.test"] });
  const pem = readFileSync(pair.keyFile, "utf8");
  const body = pem.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, "");
  const label = /-----BEGIN ([A-Z ]+)-----/.exec(pem)![1]!;
  const padded = Buffer.concat([Buffer.from(body, "base64"), Buffer.from([5, 0])]).toString("base64");
  const extra = `-----BEGIN ${label}-----\n${padded.replace(/(.{64})/g, "$1\n")}\n-----END ${label}-----\n`;
  const keys = new DecodedKeys();
  const good = value(pair.keyFile, pair.certFile);
  const bad = Buffer.concat([Buffer.from(extra), Buffer.from("\n"), readFileSync(pair.certFile)]);
  expect(verdictOf(good, keys).loads).toBe(true);
  expect(verdictOf(bad, keys)).toMatchObject({ loads: false, code: "key-invalid" });
  expect(verdictOf(bad, keys)).toMatchObject({ loads: false, code: "key-invalid" });
  expect(verdictOf(bad)).toMatchObject({ loads: false, code: "key-invalid" });
  keys.free();
});

test("distinct keys through one memo each decode to themselves; a key that does not decode is refused each time", () => {
  const dir = tempDir();
  const one = makeCertificate(join(dir, "one"), { names: ["one.test"] });
  const two = makeCertificate(join(dir, "two"), { names: ["two.test"] });
  const keys = new DecodedKeys();
  try {
    expect(verdictOf(value(one.keyFile, one.certFile), keys)).toMatchObject({ loads: true });
    expect(verdictOf(value(two.keyFile, two.certFile), keys)).toMatchObject({ loads: true });
    expect(verdictOf(value(one.keyFile, two.certFile), keys)).toMatchObject({ loads: false, code: "key-mismatch" });
    const notAKey = Buffer.from(`-----BEGIN PRIVATE KEY-----\n${Buffer.from("not a key").toString("base64")}\n-----END PRIVATE KEY-----\n`);
    for (const attempt of [1, 2]) {
      expect({ attempt, verdict: verdictOf(Buffer.concat([notAKey, readFileSync(one.certFile)]), keys) }).toMatchObject({
        attempt,
        verdict: { loads: false, code: "key-invalid" },
      });
    }
  } finally {
    keys.free();
  }
});
