import { expect, test } from "bun:test";
import { copyFileSync, readFileSync, renameSync, rmSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { fileIdentity } from "../../../src/file-identity.ts";
import { validateSource } from "../../../src/sni/validate.ts";
import { pairSources } from "../../support/pair-sources.ts";

// Reading a source while a renewal may be writing it (docs/map-rules.md): files changed less
// than 50 ms ago are left to settle, a pair whose files change while they are read is read
// again (four reads at most), and a directory swapped with `mv` is looked for again. The
// identity function stands in for the files' stat where a test needs a writer at a given moment.

const NOW = new Date(Date.now() + 60_000);
const { directory, pairFile } = pairSources("mpi-validate-waits-", [
  { names: ["a.test"], keyType: "rsa" },
  { names: ["a.test"], certName: "ecdsa-cert.pem", keyName: "ecdsa-key.pem" },
  { names: ["a.test"], certName: "soon-cert.pem", keyName: "soon-key.pem", days: 5 },
]);

/** An identity with the mtime (field 3) given, and a suffix making every call's answer new when CHANGING. */
function stamped(path: string, mtimeMs: number, suffix = ""): string {
  const fields = fileIdentity(path).split(":");
  fields[3] = String(mtimeMs);
  return fields.join(":") + suffix;
}

const changingWarning = (dir: string) => ({
  severity: "warning" as const,
  code: "changed-while-read",
  source: dir,
  message: `${dir}: certificate or key files changed while being read; mapped as they were once they had settled`,
});
const keptChanging = (reads: number) => ({
  code: "changed-while-read",
  reason: `certificate or key files kept changing while being read (${reads} reads)`,
  severity: "warning" as const,
});

test("files dated in the future (a clock set ahead) are judged at once, not waited for", () => {
  const source = directory();
  const future = new Date(Date.now() + 20_000);
  for (const file of [source.main.certFile, source.main.keyFile]) utimesSync(file, future, future);
  const started = performance.now();
  const { validated } = validateSource(source, NOW);
  expect(performance.now() - started).toBeLessThan(10_000);
  expect(validated.usable).toBe(true);
});

test("the wait is what is left of the 50 ms settle time, not more", () => {
  // Files last written 30 ms before they are looked at: about 20 ms are owed. A wait of 80 ms
  // or more each time is the wrong wait; one read of ten under 50 ms is enough on a busy machine.
  const waits: number[] = [];
  for (let round = 0; round < 10; round++) {
    const source = directory();
    let calls = 0;
    const identity = (path: string) => (++calls <= 2 ? stamped(path, Date.now() - 30) : fileIdentity(path));
    const started = performance.now();
    expect(validateSource(source, NOW, undefined, { identity }).validated.usable).toBe(true);
    waits.push(performance.now() - started);
  }
  expect(Math.min(...waits)).toBeLessThan(50);
});

test("files still being touched after every wait: four reads, then left out as changing", () => {
  const source = directory();
  let calls = 0;
  const identity = (path: string) => stamped(path, Date.now(), `:${++calls}`);
  const { validated } = validateSource(source, NOW, undefined, { identity });
  expect(validated.usable).toBe(false);
  expect(validated.main.failure).toEqual(keptChanging(4));
});

test("a key file that changes under every read while its certificate does not: never mapped", () => {
  const source = directory();
  let calls = 0;
  const identity = (path: string) => (path === source.main.keyFile ? `${fileIdentity(path)}:${++calls}` : fileIdentity(path));
  const { validated } = validateSource(source, NOW, undefined, { identity });
  expect(validated.value).toBeUndefined();
  expect(validated.main.failure).toEqual(keptChanging(4));
});

test("a renewal caught between writing cert.pem and key.pem: the young certificate is waited for, the pair mapped without a warning", () => {
  const source = directory({ "cert.pem": "cert.pem" });
  let calls = 0;
  const identity = (path: string) => {
    calls++;
    if (calls === 1) return stamped(path, Date.now()); // cert.pem just written
    if (calls === 2) {
      // key.pem not there yet when looked at; written right after, dated as its certificate
      const missing = fileIdentity(path);
      copyFileSync(pairFile("key.pem"), path);
      const certTime = new Date(Date.now() - 60_000);
      utimesSync(path, certTime, certTime);
      return missing;
    }
    return fileIdentity(path);
  };
  const { validated, problems } = validateSource(source, NOW, undefined, { identity });
  expect(validated.usable).toBe(true);
  expect(problems).toEqual([]);
});

test("a directory swapped with mv, missing when first read: looked for again, mapped with a warning", () => {
  const source = directory();
  renameSync(source.dir, `${source.dir}.new`);
  let calls = 0;
  // Back in place once the first read found it gone (two files: two identities before, two after).
  const identity = (path: string) => {
    if (++calls === 5) renameSync(`${source.dir}.new`, source.dir);
    return fileIdentity(path);
  };
  const { validated, problems } = validateSource(source, NOW, undefined, { identity });
  expect(validated.usable).toBe(true);
  expect(problems).toEqual([changingWarning(source.dir)]);
});

test("a certificate gone from a directory that stays: looked for four times, then left out with a warning", () => {
  const source = directory();
  rmSync(source.main.certFile);
  const { validated, problems } = validateSource(source, NOW);
  expect(validated.usable).toBe(false);
  expect(validated.main.failure).toEqual(keptChanging(4));
  expect(problems).toEqual([]);
});

test("the default certificate's directory gone: its certificate is named unreadable, not a vanished directory", () => {
  const source = { ...directory(), kind: "default" as const };
  rmSync(source.dir, { recursive: true });
  const { validated } = validateSource(source, NOW);
  expect(validated.main.failure).toEqual({ code: "cert-unreadable", reason: `cannot read ${source.main.certFile} (ENOENT)` });
});

test("an ECDSA pair that does not go with its certificate is left out of the value: the main pair is mapped alone", () => {
  const source = directory({
    "cert.pem": "cert.pem",
    "key.pem": "key.pem",
    "ecdsa-cert.pem": "ecdsa-cert.pem",
    "ecdsa-key.pem": "soon-key.pem",
  });
  source.ecdsa = { keyFile: join(source.dir, "ecdsa-key.pem"), certFile: join(source.dir, "ecdsa-cert.pem") };
  const { validated } = validateSource(source, NOW);
  expect([validated.usable, validated.ecdsa?.valid]).toEqual([true, false]);
  const read = (file: string) => readFileSync(file);
  const alone = Buffer.concat([read(source.main.keyFile), Buffer.from("\n"), read(source.main.certFile)]);
  expect(Buffer.from(validated.value!.bytes!).equals(alone)).toBe(true);
});

test("the ECDSA pair's own warnings are reported: one expiring soon", () => {
  const source = directory({
    "cert.pem": "cert.pem",
    "key.pem": "key.pem",
    "ecdsa-cert.pem": "soon-cert.pem",
    "ecdsa-key.pem": "soon-key.pem",
  });
  source.ecdsa = { keyFile: join(source.dir, "ecdsa-key.pem"), certFile: join(source.dir, "ecdsa-cert.pem") };
  const { validated, problems } = validateSource(source, new Date());
  expect(validated.ecdsa?.valid).toBe(true);
  expect(problems.map((problem) => [problem.code, problem.message.includes(source.ecdsa!.certFile)])).toEqual([["expires-soon", true]]);
});
