import { afterAll, describe, expect, test } from "bun:test";
import { seeded } from "../../support/seeded.ts";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createMemoryLogger } from "../../../src/log.ts";
import { embeddedValue } from "../../../src/sni/embedded.ts";
import { startStreamedBuild } from "../../../src/sni/streamed-build.ts";
import type { MapEntry, ValidatedSource } from "../../../src/sni/types.ts";
import { updateSniMap } from "../../../src/sni/update.ts";
import { makeCertificate, makeExpiredCertificateDirectory, type MadeCertificate } from "../../support/certs.ts";
import { mailTrees, minimalConfDir, testEnv } from "../../support/fixture.ts";
import { makeTempDir } from "../../support/tmp.ts";
import { toolsWithPostmapShim } from "../../support/map-text.ts";
import { testTools } from "../../support/postfix-tools.ts";
import { fillPoolTree } from "../../support/pool-tree.ts";

// The table built while judging (sni/streamed-build.ts), judged by real postmap: whatever was
// written provisionally, the table left is the one a plain `postmap -F` builds from the same
// sni.map, key by key and value by value, over a generated corpus of trees (names listed by
// several directories, the default certificate's names listed by directories, directories
// Postfix cannot use or that cannot be mapped, invalid names); and a build that fails or stops
// leaves the files in place as they were and nothing of its own. MPI_STREAMED_TREES sets the
// corpus size (default 60).

const TREES = Number(process.env.MPI_STREAMED_TREES ?? 60);
const temp = makeTempDir("mpi-streamed-");
afterAll(() => temp.cleanup());
const mailTree = mailTrees("mpi-streamed-tree-");

/** Every key and its value, sorted: `postmap -s` of hash:MAP. */
function dump(confDir: string, map: string): string[] {
  const result = Bun.spawnSync(["postmap", "-c", confDir, "-s", `hash:${map}`], { stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`postmap -s ${map}: ${result.stderr.toString()}`);
  return result.stdout.toString().split("\n").filter(Boolean).sort();
}

/** What a plain postmap -F builds from CONF_DIR's sni.map, in a directory of its own. */
function fullBuildOf(confDir: string, full: string): string[] {
  minimalConfDir(full);
  copyFileSync(join(confDir, "sni.map"), join(full, "sni.map"));
  expect(Bun.spawnSync(["postmap", "-c", full, "-F", `hash:${join(full, "sni.map")}`]).exitCode).toBe(0);
  return dump(full, join(full, "sni.map"));
}

/** A postmap that logs its arguments (one line a run) to LOG, then runs the real one. */
const loggingPostmap = (log: string) => `#!/bin/bash\necho "$*" >> '${log}'\nexec /usr/sbin/postmap "$@"\n`;

/** Date PATHS back, as files written a while ago (the judge waits for young files). */
function settleAll(paths: readonly string[]): void {
  const past = new Date(Date.now() - 5_000);
  for (const path of paths) utimesSync(path, past, past);
}

let pool: Promise<{ pairs: MadeCertificate[]; expired: string }> | undefined;
/** Pairs for the corpus: for the default names, for directory names, for none of them; one expired directory to copy. */
const certificatePool = () =>
  (pool ??= Promise.resolve().then(() => {
    const root = join(temp.path, "pool");
    // All valid over the same dates: a name two pairs cover goes to the first directory in byte
    // order (claims.ts), whatever second each pair was made in. Dated from the clock, a pool
    // made across the turn of a second gave the later pairs a later notAfter, and with it those
    // names: the trees' plans, and the counts below, changed with the machine's load.
    const dates = { start: "20250101000000Z", end: "20360101000000Z" };
    const pair = (name: string, names: string[]) => makeExpiredCertificateDirectory(root, name, names, dates);
    const pairs = [
      pair("0", ["mail.example.test", "example.test"]),
      pair("1", ["*.a.example.test", "a.example.test", "shared.example.test"]),
      pair("2", ["b.example.test", "mail.example.test"]),
      pair("3", ["elsewhere.example.test"]),
    ];
    const expired = makeExpiredCertificateDirectory(join(root, "expired"), "old.example.test", [
      "old.example.test",
      "shared.example.test",
    ]).dir;
    return { pairs, expired };
  }));

/** A tree made from SEED: the default pair and 6-20 directories of pool pairs. */
async function corpusTree(seed: number, root: string): Promise<string> {
  const { pairs, expired } = await certificatePool();
  const next = seeded(seed);
  const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)]!;
  const sslDir = join(root, "ssl");
  mkdirSync(sslDir, { recursive: true });
  const files: string[] = [];
  const placePair = (pair: MadeCertificate, dir: string, key = pair.keyFile) => {
    copyFileSync(pair.certFile, join(dir, "cert.pem"));
    copyFileSync(key, join(dir, "key.pem"));
    files.push(join(dir, "cert.pem"), join(dir, "key.pem"));
  };
  placePair(pick(pairs), sslDir);
  const names = [
    "a.example.test",
    "x.a.example.test",
    "b.example.test",
    "mail.example.test",
    "example.test",
    "shared.example.test",
    "old.example.test",
  ];
  const count = 6 + Math.floor(next() * 15);
  for (let index = 0; index < count; index++) {
    const kind = next();
    // A name with a space or a comma cannot be in a map value: such a directory is not mapped.
    const dirName = kind < 0.06 ? `bad dir${index}.example.test` : kind < 0.1 ? `bad,${index}.example.test` : `d${index}.example.test`;
    const dir = join(sslDir, dirName);
    mkdirSync(dir, { recursive: true });
    if (kind > 0.93) {
      for (const file of ["cert.pem", "key.pem"]) copyFileSync(join(expired, file), join(dir, file));
      files.push(join(dir, "cert.pem"), join(dir, "key.pem"));
    } else if (kind > 0.88)
      placePair(pick(pairs), dir, pick(pairs).keyFile); // often a key that does not match
    else placePair(pick(pairs), dir);
    const listed = Array.from({ length: 1 + Math.floor(next() * 4) }, () =>
      next() < 0.7 ? pick(names) : `n${Math.floor(next() * 9)}.example.test`,
    );
    if (next() < 0.1) listed.push("not_a..name");
    writeFileSync(join(dir, "domains"), listed.join(" "));
    files.push(join(dir, "domains"));
  }
  settleAll(files);
  return sslDir;
}

/** The corpus tree of SEED under temp/NAME, and a conf dir beside it. */
async function corpusCase(name: string, seed: number): Promise<{ root: string; sslDir: string; confDir: string }> {
  const root = join(temp.path, name);
  const sslDir = await corpusTree(seed, root);
  return { root, sslDir, confDir: minimalConfDir(join(root, "conf")) };
}

/**
 * sni-map with SHIM standing in for postmap, where the build while judging fails: it says so in
 * one line (returned), and the build from scratch leaves the table a plain postmap -F builds,
 * and nothing else of its own in the conf dir.
 */
async function fallbackLine(root: string, sslDir: string, confDir: string, shim: string): Promise<string> {
  const log = createMemoryLogger();
  await updateSniMap({ tools: toolsWithPostmapShim(root, shim), sslDir, confDir, hostname: "mail.example.test", log });
  const lines = log.lines.filter((line) => line.includes("while judging"));
  expect(lines.length).toBe(1);
  expect(dump(confDir, join(confDir, "sni.map"))).toEqual(fullBuildOf(confDir, join(root, "full")));
  expect(readdirSync(confDir).sort()).toEqual(["main.cf", "sni.map", "sni.map.db"]);
  return lines[0]!;
}

describe("the table built while judging", () => {
  test(`equals a plain postmap -F build of the same sni.map, over ${TREES} generated trees`, async () => {
    let removals = 0;
    for (let seed = 0; seed < TREES; seed++) {
      const root = join(temp.path, `tree${seed}`);
      const sslDir = await corpusTree(5_000 + seed, root);
      const confDir = minimalConfDir(join(root, "conf"));
      const calls = join(root, "postmap-calls");
      const tools = toolsWithPostmapShim(root, loggingPostmap(calls));
      const log = createMemoryLogger();
      // No cache file: no record of a last build is ever kept, so every build is a full one.
      await updateSniMap({ tools, sslDir, confDir, hostname: "mail.example.test", log });
      const context = `tree ${seed} (seed ${5_000 + seed})`;
      const ran = readFileSync(calls, "utf8").trim().split("\n");
      // Built while judging: no postmap -F, no second attempt.
      expect({ context, streamed: ran[0]!.includes("-r -i hash:"), fromScratch: ran.some((line) => line.includes(" -F ")) }).toEqual({
        context,
        streamed: true,
        fromScratch: false,
      });
      if (ran.some((line) => line.includes(" -d "))) removals++;
      expect({ context, table: dump(confDir, join(confDir, "sni.map")) }).toEqual({
        context,
        table: fullBuildOf(confDir, join(root, "full")),
      });
      expect(log.lines.filter((line) => line.includes("while judging"))).toEqual([]);
      expect(readdirSync(confDir).sort()).toEqual(["main.cf", "sni.map", "sni.map.db"]);
      expect(statSync(join(confDir, "sni.map.db")).mode & 0o777).toBe(0o600);
      rmSync(root, { recursive: true, force: true });
    }
    console.log(`${TREES} trees built while judging, ${removals} of them with names written and removed again`);
    // Directories that cannot be mapped had names written provisionally: removed again.
    expect(removals).toBeGreaterThan(0);
  }, 600_000);

  test("with a worker thread judging beside this one (300 directories): the same table as postmap -F builds", async () => {
    const tree = fillPoolTree(mailTree(), 300);
    await Bun.sleep(120); // older than the judge's settle time
    const log = createMemoryLogger();
    const cacheFile = join(tree.root, "spool", "cache.json");
    await updateSniMap({ tools: testTools(), sslDir: tree.sslDir, confDir: tree.confDir, hostname: "mail.example.test", log, cacheFile });
    expect(log.lines.filter((line) => line.includes("while judging"))).toEqual([]);
    const table = dump(tree.confDir, join(tree.confDir, "sni.map"));
    expect(table.length).toBeGreaterThan(500);
    expect(table).toEqual(fullBuildOf(tree.confDir, join(tree.root, "full")));
  }, 120_000);
});

/** PIDs of live processes whose command line names a path in DIR (the postmap building there). */
function postmapsBuildingIn(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue;
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(`${dir}/`)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

describe("when the table is built while judging", () => {
  test("on a first start with a cache file (mailcow's container); not when the record of the last build vouches for the table", async () => {
    const tree = mailTree({ defaultNames: ["mail.example.test"], certificateDirs: { "a.example.test": ["a.example.test"] } });
    await Bun.sleep(120); // older than the judge's settle time
    const calls = join(tree.root, "postmap-calls");
    const tools = toolsWithPostmapShim(tree.root, loggingPostmap(calls));
    const cacheFile = join(tree.root, "spool", "cache.json");
    const run = async () => {
      rmSync(calls, { force: true });
      await updateSniMap({
        tools,
        sslDir: tree.sslDir,
        confDir: tree.confDir,
        hostname: "mail.example.test",
        log: createMemoryLogger(),
        cacheFile,
      });
      return readFileSync(calls, "utf8").trim().split("\n");
    };
    const first = await run();
    expect(first[0]).toContain(" -r -i hash:");
    expect(first[0]).toContain(".tmp.d/sni.map");
    // A renewal: the record vouches for the table, two names are updated in place; nothing is
    // built while judging (no postmap started before the plan, none in a build directory).
    makeCertificate(join(tree.sslDir, "a.example.test"), { names: ["a.example.test"] });
    await Bun.sleep(120);
    const second = await run();
    expect(second.filter((line) => line.includes(".tmp.d/"))).toEqual([]);
    expect(second.some((line) => line.includes(" -r -i "))).toBe(true);
    expect(dump(tree.confDir, join(tree.confDir, "sni.map"))).toEqual(fullBuildOf(tree.confDir, join(tree.root, "full")));
    // The record gone (a damaged spool, a cache cleared): a full build again, while judging.
    rmSync(join(tree.root, "spool", "sni.map.table.json"));
    rmSync(join(tree.root, "spool", "sni.map.run.json"), { force: true });
    makeCertificate(join(tree.sslDir, "a.example.test"), { names: ["a.example.test"] });
    await Bun.sleep(120);
    expect((await run())[0]).toContain(".tmp.d/sni.map");
  });
});

describe("a run that fails after the build while judging started", () => {
  test("the SSL dir missing: its one error, postmap stopped, nothing of the build left in the conf dir", async () => {
    const root = join(temp.path, "no-ssl-dir");
    const confDir = minimalConfDir(join(root, "conf"));
    const run = updateSniMap({
      tools: testTools(),
      sslDir: join(root, "no-such-ssl"),
      confDir,
      hostname: "mail.example.test",
      log: createMemoryLogger(),
      cacheFile: join(root, "spool", "cache.json"),
    });
    await expect(run).rejects.toThrow("cannot read the SSL directory");
    expect(postmapsBuildingIn(confDir)).toEqual([]);
    expect(readdirSync(confDir)).toEqual(["main.cf"]);
  });
});

describe("the build's own steps", () => {
  /** A usable directory source listing NAMES whose value is BYTES. */
  const source = (dir: string, names: string[], bytes: string): ValidatedSource =>
    ({
      source: { kind: "directory", dir, main: { keyFile: `${dir}/key.pem`, certFile: `${dir}/cert.pem` }, domainsText: names.join(" ") },
      main: { files: { keyFile: `${dir}/key.pem`, certFile: `${dir}/cert.pem` }, certificateNames: names, keyMatches: true, valid: true },
      usable: true,
      value: embeddedValue(Buffer.from(bytes)),
    }) as ValidatedSource;
  const entry = (name: string, from: ValidatedSource): MapEntry => ({
    name,
    sourceDir: from.source.dir,
    files: [from.main.files.keyFile, from.main.files.certFile],
    value: from.value!,
  });
  const stored = (name: string, bytes: string) => `${name}\t${Buffer.from(bytes).toString("base64")}`;

  test("names written provisionally end as planned: a value replaced, a name removed, a planned name never written added", async () => {
    const confDir = minimalConfDir(join(temp.path, "steps"));
    const calls = join(temp.path, "steps-calls");
    const fed = join(temp.path, "steps-fed");
    // The lines the build feeds postmap -r -i, kept (tee) on their way.
    const shim = `#!/bin/bash\necho "$*" >> '${calls}'\nif [[ "$*" == *" -r -i "* ]]; then tee '${fed}' | /usr/sbin/postmap "$@"; exit \${PIPESTATUS[1]}; fi\nexec /usr/sbin/postmap "$@"\n`;
    const build = await startStreamedBuild(toolsWithPostmapShim(join(temp.path, "steps-shim"), shim), confDir, createMemoryLogger());
    const first = source("/ssl/one.test", ["one.test", "both.test", "gone.test"], "first value");
    const second = source("/ssl/two.test", ["two.test", "both.test"], "second value");
    build!.add([{ validated: first, problems: [] }]);
    build!.add([{ validated: second, problems: [] }]);
    const fresh = source("/ssl/three.test", ["three.test"], "third value");
    // The plan: both.test goes to the first directory after all, gone.test to nobody, three.test is new.
    const entries = [entry("one.test", first), entry("both.test", first), entry("two.test", second), entry("three.test", fresh)];
    await build!.finish("the map text\n", entries);
    expect(dump(confDir, join(confDir, "sni.map"))).toEqual(
      [
        stored("both.test", "first value"),
        stored("one.test", "first value"),
        stored("three.test", "third value"),
        stored("two.test", "second value"),
      ].sort(),
    );
    expect(readFileSync(join(confDir, "sni.map"), "utf8")).toBe("the map text\n");
    expect(readFileSync(calls, "utf8")).toContain(" -d -");
    // 5 provisional lines, then only the 2 whose planned value differs (both.test, three.test).
    expect(
      readFileSync(fed, "utf8")
        .trim()
        .split("\n")
        .map((line) => line.split(" ")[0]),
    ).toEqual(["one.test", "both.test", "gone.test", "two.test", "both.test", "both.test", "three.test"]);
    expect(readdirSync(confDir).sort()).toEqual(["main.cf", "sni.map", "sni.map.db"]);
  });

  test("a batch of lines larger than the write buffer (1 MiB): every line reaches the table whole", async () => {
    const confDir = minimalConfDir(join(temp.path, "big-batch"));
    const build = await startStreamedBuild(testTools(), confDir, createMemoryLogger());
    // 200 directories x 5 names x ~2 KB lines: ~2 MB in one batch.
    const sources = Array.from({ length: 200 }, (_, index) =>
      source(
        `/ssl/d${index}.big.test`,
        [0, 1, 2, 3, 4].map((name) => `n${name}.d${index}.big.test`),
        `value ${index} `.repeat(150),
      ),
    );
    build!.add(sources.map((validated) => ({ validated, problems: [] })));
    const entries = sources.flatMap((validated) => (validated.source.domainsText ?? "").split(" ").map((name) => entry(name, validated)));
    await build!.finish("the map text\n", entries);
    const table = dump(confDir, join(confDir, "sni.map"));
    expect(table.length).toBe(1_000);
    expect(table).toEqual(entries.map((line) => stored(line.name, Buffer.from(line.value.bytes!).toString())).sort());
  });

  test("postmap builds in a 0700 directory of its own; the table is 0600 before it is put in place", async () => {
    const confDir = minimalConfDir(join(temp.path, "modes"));
    const seen = join(temp.path, "modes-seen");
    const shim = `#!/bin/bash\nfor last; do :; done\nmap=\${last#hash:}\nif [[ "$*" == *" -r -i "* ]]; then stat -c '%a' "$(dirname "$map")" > '${seen}'; fi\nexec /usr/sbin/postmap "$@"\n`;
    const build = await startStreamedBuild(toolsWithPostmapShim(join(temp.path, "modes-shim"), shim), confDir, createMemoryLogger());
    const only = source("/ssl/one.test", ["one.test"], "a private key and its chain");
    build!.add([{ validated: only, problems: [] }]);
    await build!.finish("one.test /ssl/one.test/key.pem /ssl/one.test/cert.pem\n", [entry("one.test", only)]);
    expect(readFileSync(seen, "utf8").trim()).toBe("700");
    expect(statSync(join(confDir, "sni.map.db")).mode & 0o777).toBe(0o600);
    expect(statSync(join(confDir, "sni.map")).mode & 0o777).toBe(0o600);
  });

  test("stopped before it is finished: postmap ended, nothing of the build left, the files in place untouched", async () => {
    const confDir = minimalConfDir(join(temp.path, "stopped"));
    writeFileSync(join(confDir, "sni.map"), "old text\n");
    writeFileSync(join(confDir, "sni.map.db"), "old table");
    const build = await startStreamedBuild(testTools(), confDir, createMemoryLogger());
    build!.add([{ validated: source("/ssl/one.test", ["one.test"], "value"), problems: [] }]);
    expect(postmapsBuildingIn(confDir).length).toBe(1);
    await build!.abort();
    await build!.abort(); // again: nothing more to do
    expect(postmapsBuildingIn(confDir)).toEqual([]);
    expect(readdirSync(confDir).sort()).toEqual(["main.cf", "sni.map", "sni.map.db"]);
    expect(readFileSync(join(confDir, "sni.map.db"), "utf8")).toBe("old table");
    await expect(build!.finish("x\n", [])).rejects.toThrow("the table built while judging was stopped");
  });

  test("SIGTERM while postmap builds: the table being built is removed, the run ends as the signal ends it (143)", async () => {
    const { root, sslDir, confDir } = await corpusCase("sigterm", 8_888);
    const marker = join(root, "building");
    const shim = `#!/bin/bash\nif [[ "$*" == *" -r -i "* ]]; then : > '${marker}'; sleep 3; fi\nexec /usr/sbin/postmap "$@"\n`;
    toolsWithPostmapShim(root, shim); // the shim, first in PATH below
    const main = join(import.meta.dir, "../../../src/main.ts");
    const run = Bun.spawn(
      [process.execPath, main, "sni-map", "--ssl-dir", sslDir, "--conf-dir", confDir, "--hostname", "mail.example.test"],
      { env: { ...process.env, PATH: `${join(root, "fake-bin")}:${process.env.PATH}` }, stdout: "ignore", stderr: "ignore" },
    );
    for (const started = Date.now(); !existsSync(marker) && Date.now() - started < 20_000; ) await Bun.sleep(10);
    expect(readdirSync(confDir).filter((name) => name.endsWith(".tmp.d"))).toHaveLength(1);
    run.kill("SIGTERM");
    expect(await run.exited).toBe(143);
    expect(readdirSync(confDir).sort()).toEqual(["main.cf"]);
  }, 30_000);

  test("postmap gone before reading a line (writes meet a closed pipe): one line, then a build from scratch", async () => {
    const { root, sslDir, confDir } = await corpusCase("gone", 9_999);
    const shim = `#!/bin/bash\nif [[ "$*" == *" -r -i "* && "$*" == *".tmp.d/"* ]]; then echo "postmap: fatal: gone at once" >&2; exit 75; fi\nexec /usr/sbin/postmap "$@"\n`;
    expect(await fallbackLine(root, sslDir, confDir, shim)).toContain("postmap -r -i failed (exit 75): postmap: fatal: gone at once");
  });

  test("a postmap gone early costs an EPIPE, not the process, even after SIGPIPE lost its last listener", async () => {
    // In a process of its own: were SIGPIPE left at its default, the write would end it (141).
    const dir = join(temp.path, "epipe");
    minimalConfDir(join(dir, "conf"));
    toolsWithPostmapShim(dir, "#!/bin/bash\necho 'postmap: fatal: gone at once' >&2\nexit 75\n");
    const script = join(dir, "run.ts");
    const repo = join(import.meta.dir, "../../..");
    writeFileSync(
      script,
      `import { startStreamedBuild } from "${repo}/src/sni/streamed-build.ts";
import { createMemoryLogger } from "${repo}/src/log.ts";
import { embeddedValue } from "${repo}/src/sni/embedded.ts";
import { testTools } from "${repo}/test/support/postfix-tools.ts";
const listener = () => {};
process.on("SIGPIPE", listener);
process.off("SIGPIPE", listener);
const build = await startStreamedBuild(testTools({ programs: { postmap: "${dir}/fake-bin/postmap" } }), "${dir}/conf", createMemoryLogger());
await Bun.sleep(200); // postmap is gone by now
const value = embeddedValue(Buffer.alloc(3_000_000, 65));
const validated = { source: { kind: "directory", dir: "/ssl/a.test", domainsText: "a.test" }, usable: true, value };
build.add([{ validated, problems: [] }]);
const failed = await build.finish("a.test /k /c\\n", []).then(() => "finished", (error) => error.message);
console.log(failed.includes("postmap -r -i failed (exit 75)") ? "alive, postmap's failure reported" : failed);
`,
    );
    const run = Bun.spawnSync([process.execPath, script], { stdout: "pipe", stderr: "pipe", env: testEnv() });
    expect({ exit: run.exitCode, out: run.stdout.toString().trim(), err: run.stderr.toString() }).toEqual({
      exit: 0,
      out: "alive, postmap's failure reported",
      err: "",
    });
  });

  test("no postmap to start: no build while judging, nothing of it left", async () => {
    const confDir = minimalConfDir(join(temp.path, "no-postmap"));
    const tools = testTools({ programs: { postmap: join(temp.path, "no-such-postmap") } });
    expect(await startStreamedBuild(tools, confDir, createMemoryLogger())).toBeUndefined();
    expect(readdirSync(confDir)).toEqual(["main.cf"]);
    // No conf dir at all: none either (the build from scratch then says what the conf dir must be).
    expect(await startStreamedBuild(testTools(), join(temp.path, "no-such-conf"), createMemoryLogger())).toBeUndefined();
  });

  test("postmap losing the last lines it is fed while judging: one line naming what is wrong, then a build from scratch", async () => {
    // The last lines fed are written after the plan: in a tree whose names move between
    // directories, a name written again with its planned value (which the key check alone would
    // not see: the name is there, with its first value); with a default pair and one directory,
    // a name of the default pair, written only then.
    const cases = [
      { seed: 6_666, drop: 1, says: "postmap left 1 of the 9 names written after the plan without their planned value (n0.example.test)" },
      // Four lost: three of them quoted.
      {
        seed: 6_666,
        drop: 4,
        says: "postmap left 4 of the 9 names written after the plan without their planned value (a.example.test, shared.example.test, x.a.example.test)",
      },
      {
        seed: undefined,
        drop: 1,
        says: "postmap built a table that does not match the map: 1 of 2 names stored; missing 1 (mail.example.test)",
      },
    ];
    for (const { seed, drop, says } of cases) {
      const root = join(temp.path, `dropping-${seed ?? "small"}-${drop}`);
      let sslDir: string;
      if (seed !== undefined) sslDir = await corpusTree(seed, root);
      else {
        const tree = mailTree({ defaultNames: ["mail.example.test"], certificateDirs: { "a.example.test": ["a.example.test"] } });
        sslDir = tree.sslDir;
        await Bun.sleep(120); // older than the judge's settle time
      }
      const confDir = minimalConfDir(join(root, "conf"));
      const shim = `#!/bin/bash\nif [[ "$*" == *" -r -i "* && "$*" == *".tmp.d/"* ]]; then head -n -${drop} | /usr/sbin/postmap "$@"; exit \${PIPESTATUS[1]}; fi\nexec /usr/sbin/postmap "$@"\n`;
      expect(await fallbackLine(root, sslDir, confDir, shim)).toContain(`building sni.map.db while judging failed (${says}; `);
    }
  });

  test("postmap failing while it builds: one line, then a build from scratch gives the same table", async () => {
    const { root, sslDir, confDir } = await corpusCase("failing", 7_777);
    // The build while judging dies with postmap's own words; any other postmap call works.
    const shim = `#!/bin/bash\nif [[ "$*" == *" -r -i "* && "$*" == *".tmp.d/"* ]]; then cat > /dev/null; echo "postmap: fatal: stand-in failure" >&2; exit 1; fi\nexec /usr/sbin/postmap "$@"\n`;
    const line = await fallbackLine(root, sslDir, confDir, shim);
    expect(line).toContain("building sni.map.db while judging failed (postmap -r -i failed (exit 1): postmap: fatal: stand-in failure");
    expect(line).toEndWith("; built it again from scratch");
  });
});
