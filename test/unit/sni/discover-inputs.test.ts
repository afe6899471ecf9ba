import { afterAll, expect, test } from "bun:test";
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { collectCertificateSources } from "../../../src/sni/discover.ts";
import { readRunRecord, recordRun, type RunSettings } from "../../../src/sni/run-record.ts";
import { makeTempDir } from "../../support/tmp.ts";

// A restart whose discovery inputs are unchanged takes discovery's result from the run record
// (run-record.ts), so discovery must name every input its result depends on: a change that
// gives another result must never bring back the recorded one. Real trees of placeholder files
// (discovery never reads a certificate), the real record file.

const temp = makeTempDir("mpi-discover-inputs-");
afterAll(() => temp.cleanup());
let count = 0;

function tree(): { root: string; sslDir: string; settings: RunSettings; recordFile: string } {
  const root = join(temp.path, `run-${++count}`);
  const sslDir = join(root, "ssl");
  mkdirSync(sslDir, { recursive: true });
  writeFileSync(join(sslDir, "cert.pem"), "x");
  writeFileSync(join(sslDir, "key.pem"), "x");
  writeFileSync(join(sslDir, "dhparams.pem"), "x");
  certificateDir(sslDir, "a.example.test");
  return { root, sslDir, settings: { sslDir, confDir: join(root, "conf") }, recordFile: join(root, "sni.map.run.json") };
}

function certificateDir(sslDir: string, name: string, files = ["cert.pem", "key.pem", "domains"]): string {
  const dir = join(sslDir, name);
  mkdirSync(dir, { recursive: true });
  for (const file of files) writeFileSync(join(dir, file), file === "domains" ? name : "x");
  return dir;
}

/** Discover, record the run as sni-map does (identities older than its start), then CHANGE the tree. */
function recordThenChange(run: ReturnType<typeof tree>, change: () => void) {
  const before = collectCertificateSources(run.sslDir);
  const recorded = recordRun(
    run.recordFile,
    {
      settings: run.settings,
      discovery: before,
      sources: [],
      outputs: [],
      keys: [],
      lines: [],
      summary: "",
      started: Date.now() + 10_000,
      now: new Date(),
    },
    { warn: () => {} },
  );
  change();
  const after = collectCertificateSources(run.sslDir);
  const table = [join(run.root, "conf", "sni.map"), join(run.root, "conf", "sni.map.db")] as const; // none: no replay, only discovery
  const recalled = readRunRecord(run.recordFile, run.settings, table, new Date())?.discovery;
  return { before, recorded, after, recalled };
}

test("nothing changed: the run is recorded and its discovery comes back as it was", () => {
  const run = tree();
  mkdirSync(join(run.sslDir, ".a.example.test.old"));
  writeFileSync(join(run.sslDir, ".a.example.test.old", "cert.pem"), "x");
  const { before, recorded, recalled } = recordThenChange(run, () => {});
  expect(recorded).toBe(true);
  expect(recalled).toEqual(before);
});

const changes: [string, (sslDir: string, root: string) => void][] = [
  ["a certificate directory added", (sslDir) => certificateDir(sslDir, "b.example.test")],
  ["a certificate directory removed", (sslDir) => rmSync(join(sslDir, "a.example.test"), { recursive: true })],
  ["an ECDSA pair added to a directory", (sslDir) => certificateDir(sslDir, "a.example.test", ["ecdsa-cert.pem", "ecdsa-key.pem"])],
  [
    "a directory's domains file edited in place",
    (sslDir) => writeFileSync(join(sslDir, "a.example.test", "domains"), "a.example.test b.example.test"),
  ],
  [
    "a directory's domains file replaced by one linking outside the SSL dir",
    (sslDir, root) => {
      writeFileSync(join(root, "outside-domains"), "a.example.test");
      rmSync(join(sslDir, "a.example.test", "domains"));
      symlinkSync(join(root, "outside-domains"), join(sslDir, "a.example.test", "domains"));
    },
  ],
  [
    "a directory reached through a link gains an ECDSA pair",
    (_sslDir, root) => certificateDir(root, "linked.example.test", ["ecdsa-cert.pem", "ecdsa-key.pem"]),
  ],
];

for (const [name, change] of changes) {
  test(`${name}: discovery runs again`, () => {
    const run = tree();
    // A certificate directory that is a link to one outside the SSL dir.
    certificateDir(run.root, "linked.example.test");
    symlinkSync(join(run.root, "linked.example.test"), join(run.sslDir, "linked.example.test"));
    const { before, recorded, after, recalled } = recordThenChange(run, () => change(run.sslDir, run.root));
    expect(recorded).toBe(true);
    expect(after).not.toEqual(before);
    expect(recalled).toBeUndefined();
  });
}

// An entry that cannot be followed now may become a certificate directory without the SSL dir
// changing (its target is elsewhere): no run is recorded while it is there.
const unfollowable: [string, (sslDir: string, root: string) => void, (sslDir: string, root: string) => void][] = [
  [
    "a link to a directory that is not there yet",
    (sslDir, root) => symlinkSync(join(root, "later.example.test"), join(sslDir, "later.example.test")),
    (_sslDir, root) => certificateDir(root, "later.example.test"),
  ],
  [
    "a link into a link loop, the loop later replaced by a directory",
    (sslDir, root) => {
      symlinkSync(join(root, "loop"), join(root, "loop.tmp"));
      renameSync(join(root, "loop.tmp"), join(root, "loop"));
      symlinkSync(join(root, "loop"), join(sslDir, "loop.example.test"));
    },
    (_sslDir, root) => {
      rmSync(join(root, "loop"));
      certificateDir(root, "loop");
    },
  ],
];

for (const [name, setUp, change] of unfollowable) {
  test(`${name}: no run is recorded, and the new directory is found`, () => {
    const run = tree();
    setUp(run.sslDir, run.root);
    const { before, recorded, after, recalled } = recordThenChange(run, () => change(run.sslDir, run.root));
    expect(recorded).toBe(false);
    expect(after.sources.length).toBe(before.sources.length + 1);
    expect(recalled).toBeUndefined();
  });
}
