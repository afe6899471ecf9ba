import { expect, test } from "bun:test";
import { mkdirSync, readFileSync, rmSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { validateSource } from "../../../src/sni/validate.ts";
import { pairSources } from "../../support/pair-sources.ts";

// Reading one source (docs/map-rules.md): files that cannot be read, a directory that
// disappears while it is read, files still being written (the settle time), and the bytes a
// usable source embeds: exactly the files read, joined as postmap -F joins them.

// Judged a minute on: the certificates made below are valid from the second they were made.
const NOW = new Date(Date.now() + 60_000);
const { directory } = pairSources("mpi-validate-rules-", [
  { names: ["a.test"] },
  { names: ["a.test"], keyType: "rsa", certName: "rsa-cert.pem", keyName: "rsa-key.pem" },
]);

test("a usable source embeds exactly its files' bytes, key then chain, joined by a newline; with the ECDSA pair after the main pair", () => {
  const source = directory({
    "key.pem": "rsa-key.pem",
    "cert.pem": "rsa-cert.pem",
    "ecdsa-key.pem": "key.pem",
    "ecdsa-cert.pem": "cert.pem",
  });
  const read = (name: string) => readFileSync(join(source.dir, name));
  const alone = validateSource(source, NOW).validated;
  expect(alone.usable).toBe(true);
  expect(Buffer.from(alone.value!.bytes!).equals(Buffer.concat([read("key.pem"), Buffer.from("\n"), read("cert.pem")]))).toBe(true);
  source.ecdsa = { keyFile: join(source.dir, "ecdsa-key.pem"), certFile: join(source.dir, "ecdsa-cert.pem") };
  const both = validateSource(source, NOW);
  expect(both.problems).toEqual([]);
  expect(both.validated.ecdsa?.valid).toBe(true);
  const parts = ["key.pem", "cert.pem", "ecdsa-key.pem", "ecdsa-cert.pem"].map(read);
  const joined = Buffer.concat(parts.flatMap((part, index) => (index === 0 ? [part] : [Buffer.from("\n"), part])));
  expect(Buffer.from(both.validated.value!.bytes!).equals(joined)).toBe(true);
});

test("a certificate or key that cannot be read: not usable, the file and the reason named", () => {
  const noCert = validateSource({ ...directory({ "key.pem": "key.pem" }), kind: "default" }, NOW).validated;
  expect(noCert.usable).toBe(false);
  expect(noCert.value).toBeUndefined();
  expect(noCert.main).toEqual({
    files: noCert.source.main,
    certificateNames: [],
    keyMatches: false,
    valid: false,
    failure: { code: "cert-unreadable", reason: `cannot read ${noCert.source.main.certFile} (ENOENT)` },
  });
  const noKey = validateSource({ ...directory({ "cert.pem": "cert.pem" }), kind: "default" }, NOW).validated;
  expect(noKey.main.failure).toEqual({ code: "key-unreadable", reason: `cannot read ${noKey.source.main.keyFile} (ENOENT)` });
  const keyIsDir = directory({ "cert.pem": "cert.pem" });
  mkdirSync(keyIsDir.main.keyFile);
  const refused = validateSource(keyIsDir, NOW).validated.main.failure!;
  expect(refused.code).toBe("key-unreadable");
  expect(refused.reason).toStartWith(`cannot read ${keyIsDir.main.keyFile} (`);
  expect(refused.reason).not.toBe(`cannot read ${keyIsDir.main.keyFile} (ENOENT)`);
});

test("a directory that disappears while it is read: a warning that it vanished, not a broken pair", () => {
  const source = directory({ "key.pem": "key.pem", "cert.pem": "cert.pem" });
  rmSync(source.dir, { recursive: true });
  const { validated, problems } = validateSource(source, NOW);
  expect(validated.usable).toBe(false);
  expect(validated.main.failure).toEqual({
    code: "vanished",
    reason: "the directory disappeared while it was being read",
    severity: "warning",
  });
  expect(problems).toEqual([]);
});

test("files written a moment ago are left to settle before they are judged, then mapped", () => {
  // The wait owed is what is left of the 50 ms settle time when the read starts. A loaded
  // machine may start the read late: then the files are tried again, fresh.
  const source = directory({ "key.pem": "key.pem", "cert.pem": "cert.pem" });
  for (let attempt = 1; ; attempt++) {
    const written = new Date();
    for (const file of [source.main.keyFile, source.main.certFile]) utimesSync(file, written, written);
    const started = performance.now();
    const owed = 50 - (Date.now() - written.getTime());
    const { validated, problems } = validateSource(source, NOW);
    const waited = performance.now() - started;
    if (owed < 20 && attempt < 20) continue; // started too late to tell
    expect({ attempt, waitedEnough: waited >= owed - 2 }).toEqual({ attempt, waitedEnough: true });
    expect(validated.usable).toBe(true);
    expect(problems).toEqual([]);
    return;
  }
});
