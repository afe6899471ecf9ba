import { describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runRecordFileFor } from "../../../src/sni/run-record.ts";
import { makeCertificate, makeCertificateDirectory } from "../../support/certs.ts";
import { embeddedCertificate, type SettledTree, sniRuns, UNCHANGED } from "../../support/sni-runs.ts";

// A restart with nothing changed logs what the last run logged and leaves the table as it is,
// without discovering, reading or planning again (run-record.ts). Every change the last run's
// result depended on must bring the full run back: a file's content, a directory's entries, a
// domains file, the hostname, the table in place, and time (a certificate expiring, the expiry
// warning counting down). Real postmap; what the table holds is read back with postmap -q.

const { settledTree, run } = sniRuns("mpi-run-record-");
const DAY = 24 * 60 * 60 * 1000;

describe("a restart with nothing changed", () => {
  test("logs the last run's lines again, errors, warnings and notes included, and keeps the table", async () => {
    const tree = await settledTree();
    mkdirSync(join(tree.sslDir, "broken.example.test"));
    writeFileSync(join(tree.sslDir, "broken.example.test", "cert.pem"), "not a certificate\n");
    writeFileSync(join(tree.sslDir, "broken.example.test", "key.pem"), "not a key\n");
    writeFileSync(join(tree.sslDir, "broken.example.test", "domains"), "broken.example.test\n");
    makeCertificateDirectory(tree.sslDir, "soon.example.test", ["soon.example.test"], { days: 10 });
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
    expect(second.lines.some((line) => line.includes(": warning: ") && line.includes("soon.example.test"))).toBe(true);
    expect(second.lines.at(-1)).toBe(`${first.lines.at(-1)!} ${UNCHANGED}`);
    const dbAfter = statSync(join(tree.confDir, "sni.map.db"));
    expect([dbAfter.ino, dbAfter.mtimeMs]).toEqual([dbBefore.ino, dbBefore.mtimeMs]);
    expect(statSync(runRecordFileFor(tree.cacheFile)!).mode & 0o777).toBe(0o600);
  }, 30_000);

  const changes: [string, (tree: SettledTree) => void, (tree: SettledTree) => void][] = [
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
    [
      "sni.map.db rebuilt by another build for the same names, with the default certificate's files",
      (tree) => {
        const map = readFileSync(join(tree.confDir, "sni.map"), "utf8");
        const other = join(tree.root, "another.map");
        writeFileSync(other, map.replaceAll(`${join(tree.sslDir, "other.example.test")}/`, `${tree.sslDir}/`));
        expect(Bun.spawnSync(["postmap", "-F", "-c", tree.confDir, `hash:${other}`]).exitCode).toBe(0);
        expect(embeddedCertificate(tree.confDir, "other.example.test", other)).toBe(readFileSync(join(tree.sslDir, "cert.pem"), "utf8"));
        renameSync(`${other}.db`, join(tree.confDir, "sni.map.db"));
      },
      (tree) =>
        expect(embeddedCertificate(tree.confDir, "other.example.test")).toBe(
          readFileSync(join(tree.sslDir, "other.example.test", "cert.pem"), "utf8"),
        ),
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

describe("time's edges", () => {
  /** A tree whose other.example.test certificate ends DAYS from now, and its notAfter (ms), as the first run's warning gives it. */
  async function expiringTree(days: number) {
    const tree = await settledTree();
    makeCertificate(join(tree.sslDir, "other.example.test"), { names: ["other.example.test"], days });
    await Bun.sleep(120);
    const first = await run(tree);
    const warning = first.lines.find((line) => line.includes("other.example.test") && line.includes("expires in"));
    return { tree, notAfter: Date.parse(/\(([^)]+)\)$/.exec(warning!)![1]!) };
  }
  const said = (lines: string[], pattern: RegExp) => lines.some((line) => line.includes("other.example.test") && pattern.test(line));

  test("the certificate's last moment replays; at its notAfter it is expired, not expiring in 0 days", async () => {
    const { tree, notAfter } = await expiringTree(1);
    const last = await run(tree, { now: new Date(notAfter - 1) });
    expect(last.replayed).toBe(true);
    expect(said(last.lines, /expires in 0 days/)).toBe(true);
    const expired = await run(tree, { now: new Date(notAfter) });
    expect(expired.replayed).toBe(false);
    expect(said(expired.lines, /expired on/)).toBe(true);
    expect(said(expired.lines, /expires in/)).toBe(false);
  }, 30_000);

  test("the warning starts the first millisecond fewer than 14 days are left", async () => {
    const tree = await settledTree();
    makeCertificate(join(tree.sslDir, "other.example.test"), { names: ["other.example.test"], days: 20 });
    await Bun.sleep(120);
    const query = Bun.spawnSync(["openssl", "x509", "-noout", "-enddate", "-in", join(tree.sslDir, "other.example.test", "cert.pem")]);
    const notAfter = Date.parse(
      query.stdout
        .toString()
        .trim()
        .replace(/^notAfter=/, ""),
    );
    expect(said((await run(tree)).lines, /expires in/)).toBe(false);
    const edge = await run(tree, { now: new Date(notAfter - 14 * DAY) });
    expect(edge.replayed).toBe(true);
    expect(said(edge.lines, /expires in/)).toBe(false);
    const inside = await run(tree, { now: new Date(notAfter - 14 * DAY + 1) });
    expect(inside.replayed).toBe(false);
    expect(said(inside.lines, /expires in 13 days/)).toBe(true);
  }, 30_000);
});

test("without a cache file nothing is recorded, and every run does its work", async () => {
  const tree = await settledTree();
  const first = await run(tree, { cacheFile: null });
  await Bun.sleep(120);
  const second = await run(tree, { cacheFile: null });
  expect(second.replayed).toBe(false);
  expect(second.lines.slice(0, -1)).toEqual(first.lines.slice(0, -1));
  expect(embeddedCertificate(tree.confDir, "other.example.test")).toBeDefined();
  expect(readdirSync(tree.root).sort()).toEqual(["conf", "ssl"]);
  expect(second.lines.filter((line) => line.includes(": warning: "))).toEqual([]);
}, 30_000);
