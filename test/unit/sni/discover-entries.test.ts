import { afterAll, expect, test } from "bun:test";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { collectCertificateSources } from "../../../src/sni/discover.ts";
import { UserError } from "../../../src/errors.ts";
import { makeTempDir } from "../../support/tmp.ts";

// docs/map-rules.md's rules for which entries of the SSL dir are sources, on trees of empty
// placeholder files (discovery never reads a certificate): odd entries included, as admins and
// ACME clients leave them (dot-directories, symlinks, a domains file that is a directory,
// dangling or looping links, files at the top).

const temp = makeTempDir("mpi-discover-entries-");
afterAll(() => temp.cleanup());
let count = 0;

/** A new SSL dir holding the files named (a trailing / makes a directory), with `text` each. */
function tree(paths: string[], text = "x"): string {
  const sslDir = join(temp.path, `ssl-${++count}`);
  mkdirSync(sslDir);
  for (const path of paths) {
    if (path.endsWith("/")) mkdirSync(join(sslDir, path), { recursive: true });
    else {
      mkdirSync(join(sslDir, path, ".."), { recursive: true });
      writeFileSync(join(sslDir, path), text);
    }
  }
  return sslDir;
}
const certificateDir = (name: string) => [`${name}/cert.pem`, `${name}/key.pem`, `${name}/domains`];
const dirsOf = (sslDir: string) =>
  collectCertificateSources(sslDir).sources.map((source) => `${source.kind} ${relative(sslDir, source.dir) || "."}`);

test("the default pair first, then each directory with cert.pem, key.pem and domains, in byte order of its name", () => {
  const sslDir = tree([
    "cert.pem",
    "key.pem",
    ...certificateDir("b.test"),
    ...certificateDir("B.test"),
    ...certificateDir("a.test"),
    ...certificateDir("ä.test"),
  ]);
  expect(dirsOf(sslDir)).toEqual(["default .", "directory B.test", "directory a.test", "directory b.test", "directory ä.test"]);
  const [defaultSource, first] = collectCertificateSources(sslDir).sources;
  expect(defaultSource).toEqual({
    kind: "default",
    dir: sslDir,
    main: { keyFile: join(sslDir, "key.pem"), certFile: join(sslDir, "cert.pem") },
    ecdsa: undefined,
  });
  expect(first).toEqual({
    kind: "directory",
    dir: join(sslDir, "B.test"),
    main: { keyFile: join(sslDir, "B.test/key.pem"), certFile: join(sslDir, "B.test/cert.pem") },
    ecdsa: undefined,
    domainsFile: join(sslDir, "B.test/domains"),
    domainsText: "x",
    domainsOutside: undefined,
  });
  expect(collectCertificateSources(sslDir).problems).toEqual([]);
});

test("an ECDSA pair counts when both of its files are there, at the top and in a directory", () => {
  const sslDir = tree([
    "cert.pem",
    "key.pem",
    "ecdsa-cert.pem",
    "ecdsa-key.pem",
    ...certificateDir("both"),
    "both/ecdsa-key.pem",
    "both/ecdsa-cert.pem",
    ...certificateDir("key-only"),
    "key-only/ecdsa-key.pem",
    ...certificateDir("cert-only"),
    "cert-only/ecdsa-cert.pem",
  ]);
  const ecdsa = Object.fromEntries(
    collectCertificateSources(sslDir).sources.map((source) => [relative(sslDir, source.dir) || ".", source.ecdsa]),
  );
  expect(ecdsa).toEqual({
    ".": { keyFile: join(sslDir, "ecdsa-key.pem"), certFile: join(sslDir, "ecdsa-cert.pem") },
    both: { keyFile: join(sslDir, "both/ecdsa-key.pem"), certFile: join(sslDir, "both/ecdsa-cert.pem") },
    "cert-only": undefined,
    "key-only": undefined,
  });
  const topKeyOnly = tree(["cert.pem", "key.pem", "ecdsa-key.pem"]);
  expect(collectCertificateSources(topKeyOnly).sources[0]!.ecdsa).toBeUndefined();
  const topCertOnly = tree(["cert.pem", "key.pem", "ecdsa-cert.pem"]);
  expect(collectCertificateSources(topCertOnly).sources[0]!.ecdsa).toBeUndefined();
});

test("no default pair: one error saying what to restore; the directories are still sources", () => {
  for (const files of [["cert.pem"], ["key.pem"], []]) {
    const sslDir = tree([...files, ...certificateDir("a.test")]);
    const discovery = collectCertificateSources(sslDir);
    expect(dirsOf(sslDir)).toEqual(["directory a.test"]);
    expect(discovery.problems).toEqual([
      {
        severity: "error",
        code: "default-missing",
        source: sslDir,
        message: `${sslDir}: no default certificate (cert.pem + key.pem); names without their own directory get no certificate from the map. Restore the pair (mailcow's acme container or a snake-oil pair)`,
      },
    ]);
  }
});

test("directories lacking one of the three files, and files at the top, are skipped quietly", () => {
  const sslDir = tree([
    "cert.pem",
    "key.pem",
    "dhparams.pem",
    "acme/account.pem",
    "backups/a.test/2026/cert.pem",
    "no-domains/cert.pem",
    "no-domains/key.pem",
    "no-key/cert.pem",
    "no-key/domains",
    "no-cert/key.pem",
    "no-cert/domains",
    ...certificateDir("ok.test"),
  ]);
  const discovery = collectCertificateSources(sslDir);
  expect(dirsOf(sslDir)).toEqual(["default .", "directory ok.test"]);
  expect([discovery.problems, discovery.notes]).toEqual([[], []]);
});

test("a dot-directory is never a source: one note when it holds cert.pem, nothing otherwise", () => {
  const sslDir = tree(["cert.pem", "key.pem", ...certificateDir(".a.test.old"), ".staging/key.pem", ...certificateDir("a.test")]);
  const discovery = collectCertificateSources(sslDir);
  expect(dirsOf(sslDir)).toEqual(["default .", "directory a.test"]);
  expect(discovery.notes).toEqual([
    `${join(sslDir, ".a.test.old")}: holds cert.pem but is not a certificate directory (its name starts with a dot, as mailcow's SSL/*/ glob skips); not mapped`,
  ]);
  expect(discovery.problems).toEqual([]);
});

test("a dot-entry that cannot hold a cert.pem (a file, a link loop) gets no note; one whose cert.pem is a dangling link does", () => {
  const sslDir = tree(["cert.pem", "key.pem", ".hidden-file", ".dangling/key.pem"]);
  symlinkSync(".loop", join(sslDir, ".loop"));
  symlinkSync(join(sslDir, "gone.pem"), join(sslDir, ".dangling/cert.pem"));
  expect(collectCertificateSources(sslDir).notes).toEqual([
    `${join(sslDir, ".dangling")}: holds cert.pem but is not a certificate directory (its name starts with a dot, as mailcow's SSL/*/ glob skips); not mapped`,
  ]);
});

test("a domains file that cannot be read as one (a directory, over 1 MiB, a dangling or looping link): one error, not mapped", () => {
  const sslDir = tree([
    "cert.pem",
    "key.pem",
    "dir/cert.pem",
    "dir/key.pem",
    "dir/domains/",
    "big/cert.pem",
    "big/key.pem",
    "dangling/cert.pem",
    "dangling/key.pem",
    "loop/cert.pem",
    "loop/key.pem",
  ]);
  writeFileSync(join(sslDir, "big/domains"), "a".repeat(1024 * 1024 + 1));
  symlinkSync(join(sslDir, "nowhere"), join(sslDir, "dangling/domains"));
  symlinkSync("domains", join(sslDir, "loop/domains"));
  const discovery = collectCertificateSources(sslDir);
  expect(dirsOf(sslDir)).toEqual(["default ."]);
  expect(discovery.problems.map((problem) => [problem.severity, problem.code, relative(sslDir, problem.source)])).toEqual([
    ["error", "domains-unreadable", "big"],
    ["error", "domains-unreadable", "dangling"],
    ["error", "domains-unreadable", "dir"],
    ["error", "domains-unreadable", "loop"],
  ]);
  const [big, dangling, dir, loop] = discovery.problems.map((problem) => problem.message);
  const tail = "directory not mapped, its names get the default certificate; fix the file's type, size or permissions";
  expect(dangling).toBe(`${join(sslDir, "dangling")}: cannot read domains (ENOENT); ${tail}`);
  expect(loop).toBe(`${join(sslDir, "loop")}: cannot read domains (ELOOP); ${tail}`);
  expect(dir).toStartWith(`${join(sslDir, "dir")}: cannot read domains (`);
  expect(dir).toEndWith(`); ${tail}`);
  expect(big).toContain("(larger than 1 MB");
});

test("a dangling cert.pem still makes a directory a source: validation reports the file", () => {
  const sslDir = tree(["cert.pem", "key.pem", "a.test/key.pem", "a.test/domains"]);
  symlinkSync(join(sslDir, "gone.pem"), join(sslDir, "a.test/cert.pem"));
  expect(dirsOf(sslDir)).toEqual(["default .", "directory a.test"]);
});

test("a domains file resolving outside the SSL dir is marked so (its values are never quoted); inside, it is not", () => {
  const outside = join(temp.path, `outside-${++count}`);
  mkdirSync(outside);
  writeFileSync(join(outside, "secret"), "root:x:0:0");
  mkdirSync(join(outside, "dir"));
  for (const file of ["cert.pem", "key.pem", "domains"]) writeFileSync(join(outside, "dir", file), "x");
  const sslDir = tree([
    "cert.pem",
    "key.pem",
    "shared-domains",
    "linked-in/cert.pem",
    "linked-in/key.pem",
    "linked-out/cert.pem",
    "linked-out/key.pem",
    ...certificateDir("real.test"),
  ]);
  symlinkSync(join(sslDir, "shared-domains"), join(sslDir, "linked-in/domains"));
  symlinkSync(join(outside, "secret"), join(sslDir, "linked-out/domains"));
  symlinkSync(join(sslDir, "real.test"), join(sslDir, "alias.test"));
  symlinkSync(join(outside, "dir"), join(sslDir, "outside.test"));
  const outsideOf = Object.fromEntries(
    collectCertificateSources(sslDir)
      .sources.filter((source) => source.kind === "directory")
      .map((source) => [relative(sslDir, source.dir), source.domainsOutside]),
  );
  expect(outsideOf).toEqual({
    "alias.test": undefined,
    "linked-in": undefined,
    "linked-out": true,
    "outside.test": true,
    "real.test": undefined,
  });
  // Reached through a symlinked SSL dir, inside is still inside.
  const linkedSsl = join(temp.path, `linked-ssl-${count}`);
  symlinkSync(sslDir, linkedSsl);
  const viaLink = collectCertificateSources(linkedSsl).sources.filter((source) => source.kind === "directory");
  expect(viaLink.map((source) => [relative(linkedSsl, source.dir), source.domainsOutside])).toEqual([
    ["alias.test", undefined],
    ["linked-in", undefined],
    ["linked-out", true],
    ["outside.test", true],
    ["real.test", undefined],
  ]);
});

test("a directory beside the SSL dir whose name starts with the SSL dir's is outside it", () => {
  const sslDir = tree(["cert.pem", "key.pem", "d/cert.pem", "d/key.pem"]);
  const sibling = `${sslDir}-other`;
  mkdirSync(sibling);
  writeFileSync(join(sibling, "domains"), "x");
  symlinkSync(join(sibling, "domains"), join(sslDir, "d/domains"));
  expect(collectCertificateSources(sslDir).sources[1]!.domainsOutside).toBe(true);
});

test("a relative SSL dir is named by its absolute path; a missing one is a user error saying what to check", () => {
  const sslDir = tree(["cert.pem", "key.pem"]);
  expect(collectCertificateSources(relative(process.cwd(), sslDir)).sslDir).toBe(sslDir);
  const missing = join(temp.path, "no-such-ssl");
  let thrown: unknown;
  try {
    collectCertificateSources(missing);
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(UserError);
  expect((thrown as UserError).message).toBe(
    `cannot read the SSL directory ${missing} (ENOENT); check the path and that it is mounted (mailcow: data/assets/ssl -> /etc/ssl/mail)`,
  );
  expect((thrown as UserError).exitCode).toBe(1);
  expect((thrown as UserError).cause).toMatchObject({ code: "ENOENT", path: missing }); // errors keep their cause
});

test("an entry whose name is not UTF-8 is only reported when it is a directory", () => {
  const sslDir = tree(["cert.pem", "key.pem"]);
  writeFileSync(Buffer.concat([Buffer.from(`${sslDir}/file-`), Buffer.from([0xfe])]), "x");
  expect(collectCertificateSources(sslDir).problems).toEqual([]);
});

test("a directory whose name starts with a byte-order mark is a source under its own name, not another's", () => {
  const sslDir = tree(["cert.pem", "key.pem", ...certificateDir("\uFEFFbom.test")]);
  writeFileSync(join(sslDir, "\uFEFFbom.test", "domains"), "bom.test");
  expect(dirsOf(sslDir)).toEqual(["default .", "directory \uFEFFbom.test"]);
  expect(collectCertificateSources(sslDir).sources[1]!.domainsText).toBe("bom.test");
});
