import { afterAll, expect, test } from "bun:test";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { testEnv } from "../../support/fixture.ts";
import { makeTempDir } from "../../support/tmp.ts";

// What discovery asks of the file system, counted by strace in a process of its own:
// - It lists the SSL dir again when an entry it listed is gone a moment later (a directory
//   replaced with two mv's, the new one staged beside it), three listings at most. Each listing
//   opens the SSL dir twice (its names as bytes, then their types). /proc/self/fd stands in for
//   such a directory, deterministically: its listing names the descriptor the listing itself
//   read it through, gone once the listing is done.
// - It lists each directory once, and asks for files by name only in one it cannot list.
// - It resolves a domains file's path (to tell whether it lies outside the SSL dir) only where
//   a symlink is on the way: at thousands of directories, resolving every one adds up. Bun
//   resolves a path by opening it with O_PATH.

const temp = makeTempDir("mpi-discover-syscalls-");
afterAll(() => temp.cleanup());
const script = join(temp.path, "discover.ts");
writeFileSync(
  script,
  `import { collectCertificateSources } from ${JSON.stringify(join(import.meta.dir, "../../../src/sni/discover.ts"))};
console.log(JSON.stringify(collectCertificateSources(process.argv[2]!).sources.map((source) => source.dir)));
`,
);

/**
 * Discovery of SSL_DIR under strace: how often it listed the SSL dir, which paths it resolved,
 * which paths named ASKED it looked up, the sources' dirs.
 */
function traced(sslDir: string, asked = "\0"): { listings: number; resolved: string[]; asked: number; dirs: string[] } {
  const trace = join(temp.path, "trace");
  const run = Bun.spawnSync(["strace", "-f", "-qq", "-e", "trace=%file", "-o", trace, process.execPath, script, sslDir], {
    env: testEnv(),
    stdout: "pipe",
    stderr: "pipe",
  });
  expect(run.stderr.toString()).toBe("");
  expect(run.exitCode).toBe(0);
  const lines = readFileSync(trace, "utf8").split("\n");
  const listings = lines.filter(
    (line) => line.includes(`${JSON.stringify(sslDir)}, `) && line.includes("O_DIRECTORY") && !line.includes("O_PATH"),
  ).length;
  const resolved = lines.flatMap((line) => (line.includes("O_PATH") && line.includes(sslDir) ? [/"([^"]*)"/.exec(line)![1]!] : []));
  const lookups = lines.filter((line) => line.includes(`"${asked}"`)).length;
  return { listings, resolved, asked: lookups, dirs: JSON.parse(run.stdout.toString()) as string[] };
}

test("nothing gone since the listing: the SSL dir is listed once, a directory is not asked file by file, only domains paths with a symlink on the way are resolved", () => {
  const sslDir = join(temp.path, "ssl");
  mkdirSync(join(sslDir, "a.example.test"), { recursive: true });
  mkdirSync(join(sslDir, "acme")); // no pair: skipped
  for (const file of [
    "cert.pem",
    "key.pem",
    "acme/account.pem",
    "a.example.test/cert.pem",
    "a.example.test/key.pem",
    "a.example.test/domains",
  ])
    writeFileSync(join(sslDir, file), "x");
  symlinkSync(join(sslDir, "a.example.test"), join(sslDir, "b.example.test"));
  expect(traced(sslDir, join(sslDir, "a.example.test", "ecdsa-key.pem"))).toEqual({
    listings: 2,
    asked: 0,
    resolved: [sslDir, join(sslDir, "b.example.test", "domains")], // the SSL dir once, to compare with
    dirs: [sslDir, join(sslDir, "a.example.test"), join(sslDir, "b.example.test")],
  });
});

test("an entry gone since the listing, and gone again each time: three listings, then discovery goes on without it", () => {
  expect(traced("/proc/self/fd").listings).toBe(6);
});
