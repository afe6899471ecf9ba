import { describe, expect, test } from "bun:test";
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileIdentity } from "../../../src/file-identity.ts";
import { collectCertificateSources, type Discovery } from "../../../src/sni/discover.ts";
import { nextTimeChange, readRunRecord, recordRun, runRecordFileFor } from "../../../src/sni/run-record.ts";
import type { PairReport, ValidatedSource } from "../../../src/sni/types.ts";
import { makeCertificate } from "../../support/certs.ts";
import { tempDirs } from "../../support/fixture.ts";
import { embeddedCertificate, type SettledTree, sniRuns, UNCHANGED } from "../../support/sni-runs.ts";

// The run record's rules (run-record.ts), one at a time: until when a recorded run stays true
// (time alone changes what a plan gives: validity, expiry, the expiry warning and its count of
// days, judge.ts's words), and what is never recorded (a file that may still change unseen).

const DAY = 24 * 60 * 60 * 1000;
const tempDir = tempDirs("mpi-run-record-rules-");

const report = (notBefore: string | undefined, notAfter: string | undefined): PairReport => ({
  files: { keyFile: "/k", certFile: "/c" },
  certificateNames: [],
  keyMatches: true,
  valid: true,
  notBefore,
  notAfter,
});
const source = (main: PairReport, ecdsa?: PairReport): ValidatedSource => ({
  source: { kind: "default", dir: "/ssl", main: main.files },
  main,
  ecdsa,
  usable: true,
});
const iso = (time: number) => new Date(time).toISOString();

describe("the next moment time alone changes the plan", () => {
  const now = new Date("2026-01-01T00:00:00Z");
  const at = now.getTime();

  test("validity starts and ends, the warning starts, and counts down a day at a time inside it", () => {
    const far = source(report("2025-01-01T00:00:00Z", "2027-01-01T00:00:00Z"));
    // "expires in N days" is said while fewer than 14 days are left: from the first millisecond after.
    expect(nextTimeChange([far], now)).toBe(Date.parse("2027-01-01T00:00:00Z") - 14 * DAY + 1);
    const future = source(report("2026-01-02T00:00:00Z", "2027-01-01T00:00:00Z"));
    expect(nextTimeChange([far, future], now)).toBe(Date.parse("2026-01-02T00:00:00Z"));
    // 4 days 6 hours left: "expires in 4 days" until 4 days are left, "3 days" a millisecond later.
    const soon = source(report("2025-01-01T00:00:00Z", "2026-01-05T06:00:00Z"));
    expect(nextTimeChange([far, soon], now)).toBe(Date.parse("2026-01-01T06:00:00Z") + 1);
    const expired = source(report("2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z"));
    expect(nextTimeChange([expired], now)).toBe(Number.POSITIVE_INFINITY);
  });

  test("the ECDSA pair's dates count as the main pair's do", () => {
    const far = report("2025-01-01T00:00:00Z", "2027-01-01T00:00:00Z");
    const ecdsa = report("2025-01-01T00:00:00Z", iso(at + 2 * DAY + 5_000));
    expect(nextTimeChange([source(far, ecdsa)], now)).toBe(at + 5_001);
  });

  test("at the very moment of a change it is no longer ahead: valid from notBefore on, expired from notAfter on", () => {
    expect(nextTimeChange([source(report(iso(at), "2027-01-01T00:00:00Z"))], now)).toBe(Date.parse("2027-01-01T00:00:00Z") - 14 * DAY + 1);
    expect(nextTimeChange([source(report("2025-01-01T00:00:00Z", iso(at)))], now)).toBe(Number.POSITIVE_INFINITY);
  });

  test("exactly 14 days, or exactly 3 days, left: the count changes at the next millisecond", () => {
    expect(nextTimeChange([source(report("2025-01-01T00:00:00Z", iso(at + 14 * DAY)))], now)).toBe(at + 1);
    expect(nextTimeChange([source(report("2025-01-01T00:00:00Z", iso(at + 3 * DAY)))], now)).toBe(at + 1);
  });

  test("at any time of day: the count follows the time left, not the calendar day", () => {
    const noonish = new Date("2026-01-01T13:17:00Z");
    const left = 5 * DAY + 2 * 60 * 60 * 1000;
    expect(nextTimeChange([source(report("2025-01-01T00:00:00Z", iso(noonish.getTime() + left)))], noonish)).toBe(
      noonish.getTime() + 2 * 60 * 60 * 1000 + 1,
    );
  });

  test("dates that are missing or do not parse change nothing", () => {
    expect(nextTimeChange([source(report(undefined, undefined))], now)).toBe(Number.POSITIVE_INFINITY);
    expect(nextTimeChange([source(report("soon", "later"))], now)).toBe(Number.POSITIVE_INFINITY);
  });
});

describe("what is never recorded", () => {
  const setup = () => {
    const dir = tempDir();
    const file = join(dir, "cert.pem");
    writeFileSync(file, "x");
    const discovery = (observed: Record<string, string>): Discovery => ({ sslDir: dir, sources: [], problems: [], notes: [], observed });
    const common = {
      settings: { sslDir: dir, confDir: dir },
      discovery: discovery({ [file]: fileIdentity(file) }),
      sources: [] as ValidatedSource[],
      outputs: [file],
      keys: [],
      lines: [],
      summary: "",
      started: Date.now() + 1_000,
      now: new Date(),
    };
    const record = (run: Partial<typeof common>) => recordRun(join(dir, "run.json"), { ...common, ...run }, { warn: () => {} });
    return { dir, file, discovery, record };
  };

  test("a file changed within the racy margin (50 ms or less) before the run, or not identified", () => {
    const { file, discovery, record } = setup();
    expect(record({ started: Date.now() })).toBe(false);
    expect(record({ discovery: discovery({ [file]: "" }) })).toBe(false);
    expect(record({})).toBe(true);
  });

  test("the margin's edge: changed exactly 50 ms before the run is racy, a moment more is not", () => {
    const { discovery, record } = setup();
    const changedAt = discovery({ "/ssl": "1:2:3:1000:1000.25" });
    expect(record({ discovery: changedAt, started: 1050.25 })).toBe(false);
    expect(record({ discovery: changedAt, started: 1050.5 })).toBe(true);
  });

  test("one racy file among settled ones", () => {
    const { file, discovery, record } = setup();
    const mixed = discovery({ [file]: fileIdentity(file), "/ssl/new": `1:2:3:${Date.now() + 990}:${Date.now() + 990}` });
    expect(record({ discovery: mixed })).toBe(false);
  });

  test("a source whose files changed while they were read (no identities)", () => {
    const { record } = setup();
    const settled = { ...source(report(undefined, undefined)), identities: { "/ssl/key.pem": "1:2:3:1000:1000" } };
    expect(record({ sources: [settled] })).toBe(true);
    expect(record({ sources: [settled, source(report(undefined, undefined))] })).toBe(false);
  });

  test("an output that is not there", () => {
    const { dir, file, record } = setup();
    expect(record({ outputs: [file, join(dir, "sni.map.db")] })).toBe(false);
  });
});

describe("a record that cannot be trusted: the run does its work, and never fails over it", () => {
  const { settledTree, run } = sniRuns("mpi-run-record-damage-");
  const damages: [string, (record: Record<string, unknown>) => unknown][] = [
    ["from another version of the record", (record) => ({ ...record, version: 2 })],
    ["from another build of the program", (record) => ({ ...record, program: `${record.program}-other` })],
    ["not an object", () => null],
    ["its discovery's identities damaged", (record) => ({ ...record, observed: null })],
    ["its files' identities damaged", (record) => ({ ...record, files: null })],
    ["its outputs' identities damaged", (record) => ({ ...record, outputs: null })],
    ["its discovery damaged", (record) => ({ ...record, discovery: null })],
    ["its lines damaged", (record) => ({ ...record, lines: "certificate expired" })],
    ["its summary damaged", (record) => ({ ...record, summary: 1 })],
    ["keys other than the table's", (record) => ({ ...record, keysDigest: "0".repeat(64) })],
  ];
  for (const [what, damage] of damages) {
    test(what, async () => {
      const tree = await settledTree();
      const first = await run(tree);
      await Bun.sleep(120);
      expect((await run(tree)).replayed).toBe(true);
      const file = runRecordFileFor(tree.cacheFile)!;
      writeFileSync(file, JSON.stringify(damage(JSON.parse(readFileSync(file, "utf8")))));
      const after = await run(tree);
      expect(after.replayed).toBe(false);
      expect(after.lines.at(-1)).toBe(`${first.lines.at(-1)} ${UNCHANGED}`);
      expect(embeddedCertificate(tree.confDir, "other.example.test")).toBeDefined();
      // The run recorded itself anew: the next one replays it.
      await Bun.sleep(120);
      expect((await run(tree)).replayed).toBe(true);
    }, 30_000);
  }

  /** The table in place replaced by PUT, and the record made to vouch for the new file's identity. */
  async function tableReplacedUnderRecord(put: (db: string, tree: SettledTree) => void) {
    const tree = await settledTree();
    await run(tree);
    await Bun.sleep(120);
    const db = join(tree.confDir, "sni.map.db");
    put(db, tree);
    const file = runRecordFileFor(tree.cacheFile)!;
    const record = JSON.parse(readFileSync(file, "utf8"));
    record.outputs[db] = fileIdentity(db);
    writeFileSync(file, JSON.stringify(record));
    expect((await run(tree)).replayed).toBe(false);
    expect(embeddedCertificate(tree.confDir, "other.example.test")).toBeDefined();
  }

  test("a table whose keys cannot be read, though its identity is the recorded one", async () => {
    await tableReplacedUnderRecord((db) => writeFileSync(db, "not a hash table"));
  }, 30_000);

  test("a table with other keys, though its identity is the recorded one (keys that run together as the recorded ones do)", async () => {
    await tableReplacedUnderRecord((db, tree) => {
      // Recorded: example.test, mail.example.test, other.example.test.
      const other = join(tree.root, "other.map");
      writeFileSync(other, "example.testmail.example.test x\nother.example.test x\n");
      expect(Bun.spawnSync(["postmap", "-c", tree.confDir, `hash:${other}`]).exitCode).toBe(0);
      renameSync(`${other}.db`, db);
    });
  }, 30_000);
});

describe("what the record offers a run that must do its work", () => {
  const { settledTree, run } = sniRuns("mpi-run-record-offer-");
  const outputsOf = (tree: SettledTree): [string, string] => [join(tree.confDir, "sni.map"), join(tree.confDir, "sni.map.db")];
  const settingsOf = (tree: SettledTree) => ({ sslDir: tree.sslDir, confDir: tree.confDir, hostname: "mail.example.test" });

  test("a renewed pair: discovery's recorded result, and every recorded file's identity as it is now", async () => {
    const tree = await settledTree();
    await run(tree);
    const discovered = collectCertificateSources(tree.sslDir);
    const renewed = makeCertificate(join(tree.sslDir, "other.example.test"), { names: ["other.example.test"] });
    const offered = readRunRecord(runRecordFileFor(tree.cacheFile)!, settingsOf(tree), outputsOf(tree), new Date());
    expect(offered?.replay).toBeUndefined();
    expect(offered?.discovery).toEqual(discovered);
    expect(offered?.identities.get(renewed.certFile)).toBe(fileIdentity(renewed.certFile));
    expect(offered?.identities.get(tree.sslDir)).toBe(fileIdentity(tree.sslDir));
  }, 30_000);

  for (const [what, change] of [
    ["the table replaced", (tree: SettledTree) => writeFileSync(join(tree.confDir, "sni.map.db"), "")],
    ["the time of the next change come", () => {}],
  ] as const) {
    test(`${what}: discovery's recorded result`, async () => {
      const tree = await settledTree();
      await run(tree);
      change(tree);
      const later = what.startsWith("the time") ? new Date(Date.now() + 400 * DAY) : new Date();
      const offered = readRunRecord(runRecordFileFor(tree.cacheFile)!, settingsOf(tree), outputsOf(tree), later);
      expect(offered?.replay).toBeUndefined();
      expect(offered?.discovery).toEqual(collectCertificateSources(tree.sslDir));
    }, 30_000);
  }

  test("keys other than the table's: discovery's recorded result", async () => {
    const tree = await settledTree();
    await run(tree);
    const file = runRecordFileFor(tree.cacheFile)!;
    writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, "utf8")), keysDigest: "" }));
    const offered = readRunRecord(file, settingsOf(tree), outputsOf(tree), new Date());
    expect(offered?.replay).toBeUndefined();
    expect(offered?.discovery).toEqual(collectCertificateSources(tree.sslDir));
  }, 30_000);
});
