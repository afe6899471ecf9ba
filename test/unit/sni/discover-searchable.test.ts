import { afterAll, expect, test } from "bun:test";
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { collectCertificateSources } from "../../../src/sni/discover.ts";
import { makeTempDir } from "../../support/tmp.ts";

// docs/map-rules.md: a certificate directory that can be searched but not listed (mode 0711,
// as some admins lock down key directories) is asked for the three files by name. Root
// lists anything, so discovery runs here with the effective uid of nobody (the real uid stays
// root, which takes it back), on trees of placeholder files.

const NOBODY = 65534;
const temp = makeTempDir("mpi-discover-searchable-");
afterAll(() => temp.cleanup());
let count = 0;

function sslTree(): string {
  const sslDir = join(temp.path, `ssl-${++count}`);
  mkdirSync(sslDir);
  chmodSync(sslDir, 0o755); // (modes set explicitly: the umask may be stricter)
  writeFileSync(join(sslDir, "cert.pem"), "x");
  writeFileSync(join(sslDir, "key.pem"), "x");
  return sslDir;
}

function certificateDir(sslDir: string, name: string, files: string[], mode: number): void {
  const dir = join(sslDir, name);
  mkdirSync(dir);
  for (const file of files) {
    writeFileSync(join(dir, file), file === "domains" ? name : "x");
    chmodSync(join(dir, file), 0o644);
  }
  chmodSync(dir, mode);
}

function discoverAsNobody(sslDir: string) {
  expect(process.geteuid?.()).toBe(0);
  process.setegid!(NOBODY);
  process.seteuid!(NOBODY);
  try {
    return collectCertificateSources(sslDir);
  } finally {
    process.seteuid!(0);
    process.setegid!(0);
  }
}

test("a directory that can be searched but not listed is a source when its three files are there", () => {
  const sslDir = sslTree();
  certificateDir(sslDir, "a.example.test", ["cert.pem", "key.pem", "domains"], 0o711);
  certificateDir(sslDir, "ecdsa.example.test", ["cert.pem", "key.pem", "domains", "ecdsa-cert.pem", "ecdsa-key.pem"], 0o711);
  certificateDir(sslDir, "no-domains.example.test", ["cert.pem", "key.pem"], 0o711);
  certificateDir(sslDir, "no-key.example.test", ["cert.pem", "domains"], 0o711);
  certificateDir(sslDir, "locked.example.test", ["cert.pem", "key.pem", "domains"], 0o700);
  const discovery = discoverAsNobody(sslDir);
  expect(discovery.sources.map((source) => [relative(sslDir, source.dir) || ".", source.domainsText, source.ecdsa])).toEqual([
    [".", undefined, undefined],
    ["a.example.test", "a.example.test", undefined],
    [
      "ecdsa.example.test",
      "ecdsa.example.test",
      { keyFile: join(sslDir, "ecdsa.example.test/ecdsa-key.pem"), certFile: join(sslDir, "ecdsa.example.test/ecdsa-cert.pem") },
    ],
  ]);
  expect([discovery.problems, discovery.notes]).toEqual([[], []]);
});

test("in a directory that cannot be listed, a domains file linking outside the SSL dir is marked so; a plain one is not", () => {
  const sslDir = sslTree();
  const outside = join(temp.path, `outside-${count}`);
  writeFileSync(outside, "linked.example.test");
  chmodSync(outside, 0o644);
  certificateDir(sslDir, "plain.example.test", ["cert.pem", "key.pem", "domains"], 0o711);
  certificateDir(sslDir, "linked.example.test", ["cert.pem", "key.pem"], 0o755);
  symlinkSync(outside, join(sslDir, "linked.example.test", "domains"));
  chmodSync(join(sslDir, "linked.example.test"), 0o711);
  const outsideOf = discoverAsNobody(sslDir).sources.map((source) => [relative(sslDir, source.dir) || ".", source.domainsOutside]);
  expect(outsideOf).toEqual([
    [".", undefined],
    ["linked.example.test", true],
    ["plain.example.test", undefined],
  ]);
});

test("in a directory that cannot be listed, a dangling cert.pem still makes it a source: validation reports the file", () => {
  const sslDir = sslTree();
  certificateDir(sslDir, "dangling.example.test", ["key.pem", "domains"], 0o755);
  symlinkSync(join(sslDir, "gone.pem"), join(sslDir, "dangling.example.test", "cert.pem"));
  chmodSync(join(sslDir, "dangling.example.test"), 0o711);
  expect(discoverAsNobody(sslDir).sources.map((source) => relative(sslDir, source.dir) || ".")).toEqual([".", "dangling.example.test"]);
});
