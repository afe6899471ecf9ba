import { afterAll, expect, test } from "bun:test";
import { readFileSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileIdentity } from "../../../src/file-identity.ts";
import { collectCertificateSources } from "../../../src/sni/discover.ts";
import { validateSource } from "../../../src/sni/validate.ts";
import { makeCertificate, makeCertificateDirectory } from "../../support/certs.ts";
import { makeTempDir } from "../../support/tmp.ts";

// A renewal that truncates cert.pem and writes the new one while it is being read gives the
// reader the old file's bytes and then the new file's bytes past that offset: pair B's whole
// certificate followed by the tail of pair A's longer one, which Postfix loads (the tail holds
// no BEGIN line, so its loader stops before it). Such bytes are judged "valid" but are neither
// file: they must never reach sni.map.db. Whether a file changed under a read is what the
// validator's identity function says; here it stands in for a writer that never stops.

const temp = makeTempDir("mpi-validate-");
afterAll(() => temp.cleanup());

const NAME = "torn.example.test";
const sslDir = join(temp.path, "ssl");
makeCertificate(sslDir, { names: ["mail.example.test"] });
const longer = makeCertificate(join(temp.path, "a"), { names: [NAME], keyType: "rsa" });
const shorter = makeCertificateDirectory(sslDir, NAME, [NAME]);
const [longCert, shortCert, shortKey] = [longer.certFile, shorter.certFile, shorter.keyFile].map((file) => readFileSync(file));
const torn = Buffer.concat([shortCert!, longCert!.subarray(shortCert!.length)]);
writeFileSync(shorter.certFile, torn);
// Settled long ago: no waiting for young files.
const past = new Date(Date.now() - 60_000);
for (const file of [shorter.certFile, shorter.keyFile]) utimesSync(file, past, past);
const source = collectCertificateSources(sslDir).sources.find((found) => found.dir === shorter.dir)!;
const now = new Date();

/** An identity that differs on every call while CHANGING says the writer is at work (mtime kept: field 3). */
function writerAtWork(changing: () => boolean): (path: string) => string {
  let calls = 0;
  return (path) => (changing() ? `${fileIdentity(path)}:${++calls}` : fileIdentity(path));
}

test("the torn bytes load: read while nothing changes, they are mapped as read", () => {
  expect(longCert!.length).toBeGreaterThan(shortCert!.length);
  const { validated } = validateSource(source, now);
  expect(validated.usable).toBe(true);
  expect(Buffer.from(validated.value!.bytes!).equals(Buffer.concat([shortKey!, Buffer.from("\n"), torn]))).toBe(true);
});

test("bytes read while a file kept changing on every read are never mapped, even though they load", () => {
  const { validated, problems } = validateSource(source, now, undefined, { identity: writerAtWork(() => true) });
  expect(validated.value).toBeUndefined();
  expect(validated.usable).toBe(false);
  expect(validated.main.failure?.code).toBe("changed-while-read");
  expect(validated.main.failure?.reason).toBe("certificate or key files kept changing while being read (4 reads)");
  expect(problems.map((problem) => problem.code)).not.toContain("changed-while-read");
});

test("files that changed only between reads are mapped from the last read, which nothing changed, with a warning", () => {
  let reads = 0;
  // The first read's before and after identities of both files differ; from then on the files are left alone.
  const identity = writerAtWork(() => ++reads <= 4);
  const { validated, problems } = validateSource(source, now, undefined, { identity });
  expect(validated.usable).toBe(true);
  expect(validated.value).toBeDefined();
  expect(problems.map((problem) => problem.code)).toEqual(["changed-while-read"]);
});
