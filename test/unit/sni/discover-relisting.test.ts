import { afterAll, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { testEnv } from "../../support/fixture.ts";
import { makeTempDir } from "../../support/tmp.ts";

// Discovery lists the SSL dir again when an entry it listed is gone a moment later (a
// directory replaced with two mv's, the new one staged beside it), three listings at most.
// /proc/self/fd stands in for such a directory, deterministically: its listing names the
// descriptor the listing itself read it through, gone once the listing is done. strace counts
// the listings: each opens the SSL dir twice (its names as bytes, then their types).

const temp = makeTempDir("mpi-discover-relisting-");
afterAll(() => temp.cleanup());
const script = join(temp.path, "discover.ts");
writeFileSync(
  script,
  `import { collectCertificateSources } from ${JSON.stringify(join(import.meta.dir, "../../../src/sni/discover.ts"))};
console.log(JSON.stringify(collectCertificateSources(process.argv[2]!).sources.map((source) => source.dir)));
`,
);

/** How many times discovery, in a process of its own, opened SSL_DIR; and the sources' dirs. */
function listings(sslDir: string): { opens: number; dirs: string[] } {
  const trace = join(temp.path, "trace");
  const run = Bun.spawnSync(["strace", "-f", "-qq", "-e", "trace=open,openat", "-o", trace, process.execPath, script, sslDir], {
    env: testEnv(),
    stdout: "pipe",
    stderr: "pipe",
  });
  expect(run.stderr.toString()).toBe("");
  expect(run.exitCode).toBe(0);
  const opens = readFileSync(trace, "utf8")
    .split("\n")
    .filter((line) => line.includes(`${JSON.stringify(sslDir)}, O_RDONLY`)).length;
  return { opens, dirs: JSON.parse(run.stdout.toString()) as string[] };
}

test("nothing gone since the listing: the SSL dir is listed once", () => {
  const sslDir = join(temp.path, "ssl");
  mkdirSync(join(sslDir, "a.example.test"), { recursive: true });
  for (const file of ["cert.pem", "key.pem", "a.example.test/cert.pem", "a.example.test/key.pem", "a.example.test/domains"])
    writeFileSync(join(sslDir, file), "x");
  expect(listings(sslDir)).toEqual({ opens: 2, dirs: [sslDir, join(sslDir, "a.example.test")] });
});

test("an entry gone since the listing, and gone again each time: three listings, then discovery goes on without it", () => {
  expect(listings("/proc/self/fd").opens).toBe(6);
});
