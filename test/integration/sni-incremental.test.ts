import { describe, expect, test } from "bun:test";
import { seeded } from "../support/seeded.ts";
import { copyFileSync, mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createMemoryLogger } from "../../src/log.ts";
import { embeddedValueDigests, planSniMapFromTree } from "../../src/sni/index.ts";
import { updateSniMap } from "../../src/sni/update.ts";
import { incrementalDelta, postmapStamp, writeSniTable } from "../../src/sni/table-update.ts";
import { readTableRecord, tableRecordFileFor } from "../../src/table-record.ts";
import { makeCertificate, type MadeCertificate } from "../support/certs.ts";
import { testTools } from "../support/postfix-tools.ts";
import { minimalConfDir } from "../support/fixture.ts";
import { makeTempDir } from "../support/tmp.ts";

// Differential test of the in-place table update (sni/table-update.ts) against a full build:
// random sequences of renewals, additions, removals and domains edits on a certificate tree,
// `sni-map` (with a cache file, as in a container) after each step, and after each step the
// table it left is compared key by key and value by value (`postmap -s`) with the table a plain
// `postmap -F` builds from the same sni.map in another directory. Real postmap throughout.
// MPI_INCREMENTAL_SEQUENCES sets the number of sequences (200 for the full proof).

const SEQUENCES = Number(process.env.MPI_INCREMENTAL_SEQUENCES ?? 12);
const STEPS = 6;
const POOL = 8;

/** Date FILE back, as a renewal that finished a while ago (the judge waits for young files). */
function settle(path: string): void {
  const past = new Date(Date.now() - 5_000);
  utimesSync(path, past, past);
}

function place(pair: MadeCertificate, dir: string, prefix = ""): void {
  for (const [from, to] of [
    [pair.certFile, `${prefix}cert.pem`],
    [pair.keyFile, `${prefix}key.pem`],
  ] as const) {
    // Replaced, as acme and certbot do (a new file renamed over the old one).
    const temp = join(dir, `.${to}.new`);
    copyFileSync(from, temp);
    settle(temp);
    rmSync(join(dir, to), { force: true });
    copyFileSync(temp, join(dir, to));
    rmSync(temp);
    settle(join(dir, to));
  }
}

/** Every key and its value, sorted: `postmap -s` of hash:MAP. */
function dump(confDir: string, map: string): string[] {
  const result = Bun.spawnSync(["postmap", "-c", confDir, "-s", `hash:${map}`], { stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`postmap -s ${map}: ${result.stderr.toString()}`);
  return result.stdout.toString().split("\n").filter(Boolean).sort();
}

describe("sni.map.db updated in place", () => {
  test(`equals a full postmap -F build after every step of ${SEQUENCES} random sequences`, async () => {
    const temp = makeTempDir("mpi-incremental-");
    try {
      const pool = Array.from({ length: POOL }, (_, index) =>
        makeCertificate(join(temp.path, "pool", String(index)), { names: [`pool${index}.example.test`] }),
      );
      let updatedSteps = 0;
      let steps = 0;
      let removalSteps = 0;
      for (let sequence = 0; sequence < SEQUENCES; sequence++) {
        const next = seeded(1_000 + sequence);
        const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)]!;
        const root = join(temp.path, `s${sequence}`);
        const [sslDir, confDir, fullDir] = [join(root, "ssl"), join(root, "conf"), join(root, "full")];
        mkdirSync(sslDir, { recursive: true });
        for (const dir of [confDir, fullDir]) minimalConfDir(dir);
        const cacheFile = join(root, "spool", "cache.json");
        place(pick(pool), sslDir);
        const dirs = new Set<string>();
        const writeDomains = (name: string) => {
          const count = 1 + Math.floor(next() * 4);
          const names = Array.from({ length: count }, () => `n${Math.floor(next() * 40)}.${name}`);
          // Sometimes a name another directory may list too (conflicts move names between values).
          if (next() < 0.3) names.push(`shared${Math.floor(next() * 3)}.example.test`);
          const file = join(sslDir, name, "domains");
          writeFileSync(file, names.join(" "));
          settle(file);
        };
        const add = () => {
          const name = `d${Math.floor(next() * 1_000)}.example.test`;
          if (dirs.has(name)) return;
          mkdirSync(join(sslDir, name));
          place(pick(pool), join(sslDir, name));
          writeDomains(name);
          dirs.add(name);
        };
        for (let index = 0; index < 8; index++) add();
        for (let step = 0; step < STEPS; step++) {
          // Half the time the changes are older than the racy margin when the run starts: their
          // files' identities are then remembered, and a later step finds them unchanged and
          // unread (validate.ts), or the whole run recorded (run-record.ts).
          if (next() < 0.5) await Bun.sleep(60);
          const log = createMemoryLogger();
          await updateSniMap({ tools: testTools(), sslDir, confDir, hostname: "mail.example.test", log, cacheFile });
          const summary = log.lines.find((line) => line.includes("sni-map: ")) ?? "";
          if (summary.includes("updated in place")) updatedSteps++;
          if (/updated in place: \d+ names? written, [1-9]/.test(summary)) removalSteps++;
          steps++;
          copyFileSync(join(confDir, "sni.map"), join(fullDir, "sni.map"));
          const full = Bun.spawnSync(["postmap", "-c", fullDir, "-F", `hash:${join(fullDir, "sni.map")}`], { stderr: "pipe" });
          expect(full.exitCode).toBe(0);
          const context = `sequence ${sequence} (seed ${1_000 + sequence}), step ${step}`;
          expect({ context, table: dump(confDir, join(confDir, "sni.map")) }).toEqual({
            context,
            table: dump(fullDir, join(fullDir, "sni.map")),
          });
          // The next change: 1-3 of renewals, additions, removals, domains edits, default renewals.
          const changes = 1 + Math.floor(next() * 3);
          for (let change = 0; change < changes; change++) {
            const what = next();
            const existing = [...dirs];
            if (what < 0.35 && existing.length > 0) place(pick(pool), join(sslDir, pick(existing)));
            else if (what < 0.55) add();
            else if (what < 0.7 && existing.length > 1) {
              const gone = pick(existing);
              rmSync(join(sslDir, gone), { recursive: true });
              dirs.delete(gone);
            } else if (what < 0.85 && existing.length > 0) writeDomains(pick(existing));
            else place(pick(pool), sslDir);
          }
        }
        rmSync(root, { recursive: true, force: true });
      }
      console.log(`${SEQUENCES} sequences, ${steps} builds, ${updatedSteps} of them updated in place (${removalSteps} with names removed)`);
      // Most builds after the first of a sequence must take the in-place path, or this compares full builds only.
      expect(updatedSteps).toBeGreaterThan((steps - SEQUENCES) / 2);
      expect(removalSteps).toBeGreaterThan(0);
    } finally {
      temp.cleanup();
    }
  }, 600_000);
});

/** A directory with names of its own beside the default pair, so that a renewal of the default pair is a small change. */
function placeOtherDirectory(sslDir: string, pair: MadeCertificate): void {
  const other = join(sslDir, "other.example.test");
  mkdirSync(other);
  place(pair, other);
  writeFileSync(join(other, "domains"), "a.other.example.test b.other.example.test c.other.example.test");
  settle(join(other, "domains"));
}

/** CONF_DIR's sni.map.db holds, key by key and value by value, what a plain postmap -F of its sni.map builds (in FULL). */
function expectFullBuildOf(confDir: string, full: string): void {
  minimalConfDir(full);
  copyFileSync(join(confDir, "sni.map"), join(full, "sni.map"));
  expect(Bun.spawnSync(["postmap", "-c", full, "-F", `hash:${join(full, "sni.map")}`]).exitCode).toBe(0);
  expect(dump(confDir, join(confDir, "sni.map"))).toEqual(dump(full, join(full, "sni.map")));
}

describe("the in-place update is not trusted blindly", () => {
  test("a .db replaced since the recorded build gets a full build", async () => {
    const temp = makeTempDir("mpi-incremental-");
    try {
      const [sslDir, confDir] = [join(temp.path, "ssl"), join(temp.path, "conf")];
      mkdirSync(sslDir);
      minimalConfDir(confDir);
      const pairs = [0, 1].map((index) => makeCertificate(join(temp.path, "pool", String(index)), { names: ["mail.example.test"] }));
      placeOtherDirectory(sslDir, pairs[0]!);
      const cacheFile = join(temp.path, "spool", "cache.json");
      const run = async () => {
        const log = createMemoryLogger();
        await updateSniMap({ tools: testTools(), sslDir, confDir, hostname: "mail.example.test", log, cacheFile });
        return log.lines.join("\n");
      };
      place(pairs[0]!, sslDir);
      await run();
      place(pairs[1]!, sslDir);
      expect(await run()).toContain("updated in place: 1 name written, 0 removed");
      // Someone else's build replaces the .db: the same names, other values (every name on the
      // second pair). Updated in place, the directory's names would keep that foreign value.
      const foreign = minimalConfDir(join(temp.path, "foreign"));
      const names = readFileSync(join(confDir, "sni.map"), "utf8")
        .split("\n")
        .filter(Boolean)
        .map((line) => line.split(" ")[0]);
      writeFileSync(join(foreign, "sni.map"), names.map((name) => `${name} ${pairs[1]!.keyFile} ${pairs[1]!.certFile}\n`).join(""));
      expect(Bun.spawnSync(["postmap", "-c", foreign, "-F", `hash:${join(foreign, "sni.map")}`]).exitCode).toBe(0);
      copyFileSync(join(foreign, "sni.map.db"), join(confDir, "sni.map.db"));
      place(pairs[0]!, sslDir);
      expect(await run()).not.toContain("updated in place");
      expectFullBuildOf(confDir, join(temp.path, "full"));
    } finally {
      temp.cleanup();
    }
  }, 60_000);

  test("a .db replaced after the record was checked, before it is copied, gets a full build", async () => {
    const temp = makeTempDir("mpi-incremental-");
    try {
      const [sslDir, confDir, foreign] = ["ssl", "conf", "foreign"].map((dir) => join(temp.path, dir)) as [string, string, string];
      mkdirSync(sslDir);
      for (const dir of [confDir, foreign]) minimalConfDir(dir);
      const pairs = [0, 1].map((index) => makeCertificate(join(temp.path, "pool", String(index)), { names: ["mail.example.test"] }));
      placeOtherDirectory(sslDir, pairs[0]!);
      place(pairs[0]!, sslDir);
      const cacheFile = join(temp.path, "spool", "cache.json");
      const tools = testTools();
      await updateSniMap({ tools, sslDir, confDir, hostname: "mail.example.test", log: createMemoryLogger(), cacheFile });
      // A renewal of the default pair: the record vouches for the .db in place, one name changes.
      place(pairs[1]!, sslDir);
      const plan = planSniMapFromTree({ sslDir, hostname: "mail.example.test" });
      const record = readTableRecord(tableRecordFileFor(cacheFile, "sni.map")!);
      const delta = incrementalDelta(record, confDir, plan.entries, embeddedValueDigests(plan.entries), postmapStamp(tools));
      expect(delta?.upserts.map((entry) => entry.name)).toEqual(["mail.example.test"]);
      // Now another build (a plain postmap -F, which embeds whatever the files hold) puts its
      // own .db in place: every name on the second pair, a value this run never judged for them.
      writeFileSync(
        join(foreign, "sni.map"),
        plan.entries.map((entry) => `${entry.name} ${pairs[1]!.keyFile} ${pairs[1]!.certFile}\n`).join(""),
      );
      expect(Bun.spawnSync(["postmap", "-c", foreign, "-F", `hash:${join(foreign, "sni.map")}`]).exitCode).toBe(0);
      copyFileSync(join(foreign, "sni.map.db"), join(confDir, "sni.map.db"));
      const log = createMemoryLogger();
      expect(await writeSniTable(tools, confDir, plan.content, plan.entries, delta, log)).toBeUndefined();
      expect(log.lines.join("\n")).toContain("sni.map.db was replaced or rewritten since the recorded build;");
      expectFullBuildOf(confDir, join(temp.path, "full"));
    } finally {
      temp.cleanup();
    }
  }, 60_000);
});
