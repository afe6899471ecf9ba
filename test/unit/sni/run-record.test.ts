import { describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileIdentity } from "../../../src/file-identity.ts";
import { createMemoryLogger } from "../../../src/log.ts";
import { nextTimeChange, recordRun, runRecordFileFor } from "../../../src/sni/run-record.ts";
import type { PairReport, ValidatedSource } from "../../../src/sni/types.ts";
import { updateSniMap } from "../../../src/sni/update.ts";
import { makeCertificate, makeCertificateDirectory } from "../../support/certs.ts";
import { mailTrees, tempDirs } from "../../support/fixture.ts";
import { testTools } from "../../support/postfix-tools.ts";

// A restart with nothing changed logs what the last run logged and leaves the table as it is,
// without discovering, reading or planning again (run-record.ts). Every change the last run's
// result depended on must bring the full run back: a file's content, a directory's entries, a
// domains file, the hostname, the table in place, and time (a certificate expiring, the expiry
// warning counting down). Real postmap; what the table holds is read back with postmap -q.

const mailTree = mailTrees("mpi-run-record-");
const UNCHANGED = "(unchanged: no certificate, key or map file changed since sni.map.db was built)";
const DAY = 24 * 60 * 60 * 1000;

async function settledTree(certificateDirs: Record<string, string[]> = { "other.example.test": ["other.example.test"] }) {
  const tree = mailTree({ certificateDirs });
  await Bun.sleep(120); // older than the record's racy margin (50 ms)
  return { ...tree, cacheFile: join(tree.root, "spool", "cache.json") };
}

/**
 * updateSniMap as a container runs it. `replayed`: the run logged the recorded lines and did no
 * work (the record is left as it was; a run that does its work records itself anew).
 */
async function run(tree: Awaited<ReturnType<typeof settledTree>>, options: { hostname?: string; now?: Date } = {}) {
  const log = createMemoryLogger();
  const record = runRecordFileFor(tree.cacheFile)!;
  const before = fileIdentity(record);
  await updateSniMap({
    tools: testTools(),
    sslDir: tree.sslDir,
    confDir: tree.confDir,
    hostname: options.hostname ?? "mail.example.test",
    log,
    cacheFile: tree.cacheFile,
    now: options.now,
  });
  const replayed = before !== "" && fileIdentity(record) === before;
  if (replayed) expect(log.lines.at(-1)!.endsWith(UNCHANGED)).toBe(true);
  return { lines: log.lines, replayed };
}

/** The certificate the table embeds for NAME (the chain half of the value), or undefined. */
function embeddedCertificate(confDir: string, name: string): string | undefined {
  const query = Bun.spawnSync(["postmap", "-c", confDir, "-q", name, `hash:${confDir}/sni.map`]);
  if (query.exitCode !== 0) return undefined;
  const value = Buffer.from(query.stdout.toString().trim(), "base64").toString();
  return value.slice(value.indexOf("-----BEGIN CERTIFICATE-----"));
}

describe("a restart with nothing changed", () => {
  test("logs the last run's lines again, problems and notes included, and keeps the table", async () => {
    const tree = await settledTree();
    mkdirSync(join(tree.sslDir, "broken.example.test"));
    writeFileSync(join(tree.sslDir, "broken.example.test", "cert.pem"), "not a certificate\n");
    writeFileSync(join(tree.sslDir, "broken.example.test", "key.pem"), "not a key\n");
    writeFileSync(join(tree.sslDir, "broken.example.test", "domains"), "broken.example.test\n");
    mkdirSync(join(tree.sslDir, ".old.example.test"));
    writeFileSync(join(tree.sslDir, ".old.example.test", "cert.pem"), "old\n");
    await Bun.sleep(120);
    const first = await run(tree);
    await Bun.sleep(120); // the outputs, too, older than the margin
    const dbBefore = statSync(join(tree.confDir, "sni.map.db"));
    const second = await run(tree);
    expect(second.replayed).toBe(true);
    expect(second.lines.slice(0, -1)).toEqual(first.lines.slice(0, -1));
    expect(second.lines.some((line) => line.includes("broken.example.test"))).toBe(true);
    expect(second.lines.some((line) => line.includes(".old.example.test"))).toBe(true);
    expect(second.lines.at(-1)).toBe(`${first.lines.at(-1)!} ${UNCHANGED}`);
    const dbAfter = statSync(join(tree.confDir, "sni.map.db"));
    expect([dbAfter.ino, dbAfter.mtimeMs]).toEqual([dbBefore.ino, dbBefore.mtimeMs]);
    expect(statSync(runRecordFileFor(tree.cacheFile)!).mode & 0o777).toBe(0o600);
  }, 30_000);

  const changes: [
    string,
    (tree: Awaited<ReturnType<typeof settledTree>>) => void,
    (tree: Awaited<ReturnType<typeof settledTree>>) => void,
  ][] = [
    [
      "a certificate renewed in place",
      (tree) => makeCertificate(join(tree.sslDir, "other.example.test"), { names: ["other.example.test"], days: 30 }),
      (tree) =>
        expect(embeddedCertificate(tree.confDir, "other.example.test")).toBe(
          readFileSync(join(tree.sslDir, "other.example.test", "cert.pem"), "utf8"),
        ),
    ],
    [
      "a name added to a domains file (and the certificate with it)",
      (tree) => {
        makeCertificate(join(tree.sslDir, "other.example.test"), { names: ["other.example.test", "new.example.test"] });
        writeFileSync(join(tree.sslDir, "other.example.test", "domains"), "other.example.test new.example.test\n");
      },
      (tree) => expect(embeddedCertificate(tree.confDir, "new.example.test")).toBeDefined(),
    ],
    [
      "a directory added",
      (tree) => makeCertificateDirectory(tree.sslDir, "added.example.test", ["added.example.test"]),
      (tree) => expect(embeddedCertificate(tree.confDir, "added.example.test")).toBeDefined(),
    ],
    [
      "a directory removed",
      (tree) => rmSync(join(tree.sslDir, "other.example.test"), { recursive: true }),
      (tree) => expect(embeddedCertificate(tree.confDir, "other.example.test")).toBeUndefined(),
    ],
    [
      "a directory swapped for another by mv",
      (tree) => {
        const staged = makeCertificateDirectory(tree.sslDir, ".staged", ["other.example.test"]);
        renameSync(join(tree.sslDir, "other.example.test"), join(tree.sslDir, ".gone"));
        renameSync(staged.dir, join(tree.sslDir, "other.example.test"));
      },
      (tree) =>
        expect(embeddedCertificate(tree.confDir, "other.example.test")).toBe(
          readFileSync(join(tree.sslDir, "other.example.test", "cert.pem"), "utf8"),
        ),
    ],
    ["a key's mode changed (content the same)", (tree) => chmodSync(join(tree.sslDir, "other.example.test", "key.pem"), 0o644), () => {}],
    [
      "sni.map.db replaced by another build",
      (tree) => writeFileSync(join(tree.confDir, "sni.map.db"), ""),
      (tree) => expect(embeddedCertificate(tree.confDir, "other.example.test")).toBeDefined(),
    ],
  ];
  for (const [what, change, check] of changes) {
    test(`${what}: the run does its work`, async () => {
      const tree = await settledTree();
      await run(tree);
      await Bun.sleep(120);
      expect((await run(tree)).replayed).toBe(true);
      change(tree);
      const after = await run(tree);
      expect(after.replayed).toBe(false);
      check(tree);
    }, 30_000);
  }

  test("another hostname: the run does its work and maps it", async () => {
    const tree = await settledTree();
    await run(tree);
    await Bun.sleep(120);
    expect((await run(tree)).replayed).toBe(true);
    const other = await run(tree, { hostname: "smtp.example.test" });
    expect(other.replayed).toBe(false);
    expect(embeddedCertificate(tree.confDir, "smtp.example.test")).toBeDefined();
  }, 30_000);

  test("time alone: a certificate that expires, and an expiry warning counting down, bring the run back", async () => {
    const tree = await settledTree();
    makeCertificate(join(tree.sslDir, "other.example.test"), { names: ["other.example.test"], days: 10 });
    await Bun.sleep(120);
    const now = Date.now();
    const first = await run(tree, { now: new Date(now) });
    expect(first.lines.some((line) => /expires in 9 days/.test(line))).toBe(true);
    expect((await run(tree, { now: new Date(now + 1_000) })).replayed).toBe(true);
    const nextDay = await run(tree, { now: new Date(now + DAY) });
    expect(nextDay.replayed).toBe(false);
    expect(nextDay.lines.some((line) => /expires in 8 days/.test(line))).toBe(true);
    const expired = await run(tree, { now: new Date(now + 11 * DAY) });
    expect(expired.replayed).toBe(false);
    expect(expired.lines.filter((line) => line.includes("other.example.test") && /expire/.test(line))).toEqual([
      expect.not.stringContaining("expires in"),
    ]);
  }, 30_000);
});

describe("what is recorded", () => {
  const tempDir = tempDirs("mpi-run-record-unit-");
  const report = (notBefore: string, notAfter: string): PairReport => ({
    files: { keyFile: "/k", certFile: "/c" },
    certificateNames: [],
    keyMatches: true,
    valid: true,
    notBefore,
    notAfter,
  });
  const source = (main: PairReport): ValidatedSource => ({
    source: { kind: "default", dir: "/ssl", main: main.files },
    main,
    usable: true,
  });

  test("the next moment time changes the plan: validity starts and ends, the warning window, each day inside it", () => {
    const now = new Date("2026-01-01T00:00:00Z");
    const far = source(report("2025-01-01T00:00:00Z", "2027-01-01T00:00:00Z"));
    expect(nextTimeChange([far], now)).toBe(Date.parse("2027-01-01T00:00:00Z") - 14 * DAY);
    const future = source(report("2026-01-02T00:00:00Z", "2027-01-01T00:00:00Z"));
    expect(nextTimeChange([far, future], now)).toBe(Date.parse("2026-01-02T00:00:00Z"));
    const soon = source(report("2025-01-01T00:00:00Z", "2026-01-05T06:00:00Z"));
    expect(nextTimeChange([far, soon], now)).toBe(Date.parse("2026-01-01T06:00:00Z"));
    const expired = source(report("2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z"));
    expect(nextTimeChange([expired], now)).toBe(Number.POSITIVE_INFINITY);
  });

  test("nothing is recorded when a file changed within the racy margin before the run, or could not be identified", () => {
    const dir = tempDir();
    const file = join(dir, "cert.pem");
    writeFileSync(file, "x");
    const record = join(dir, "run.json");
    const common = {
      settings: { sslDir: dir, confDir: dir },
      sources: [],
      outputs: [file],
      keys: [],
      lines: [],
      summary: "",
      now: new Date(),
    };
    const discovery = (observed: Record<string, string>) => ({ sslDir: dir, sources: [], problems: [], notes: [], observed });
    const observed = { [file]: fileIdentity(file) };
    expect(recordRun(record, { ...common, discovery: discovery(observed), started: Date.now() }, { warn: () => {} })).toBe(false);
    const unknown = discovery({ [file]: "" });
    expect(recordRun(record, { ...common, discovery: unknown, started: Date.now() + 1_000 }, { warn: () => {} })).toBe(false);
    expect(recordRun(record, { ...common, discovery: discovery(observed), started: Date.now() + 1_000 }, { warn: () => {} })).toBe(true);
  });
});
