import { afterAll, describe, expect } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  adversarial,
  BUN,
  holdLock,
  cleanUp,
  expectMapAgrees,
  expectRun,
  freshTree,
  HOSTNAME,
  leftovers,
  runBin,
  runEnv,
  seeded,
  sniArgs,
  spawnBin,
  tempDir,
  type RunResult,
} from "./harness.ts";
import { testEnv } from "../support/fixture.ts";

// Family 2, crash and concurrency: writes stopped mid-way (a file size limit), runs killed at
// random instants (fixed seed, bounded rounds), concurrent runs with different input, a lock
// held by someone else. The previous file is always complete, sni.map and sni.map.db always
// come from the same run (or the next run repairs them), leftovers go with the next run.

afterAll(cleanUp);

const SUMMARY = /^mailcow-postfix-init: sni-map: \d+ names? mapped/;
const WAITING = /^mailcow-postfix-init: waiting for another mailcow-postfix-init run/;
const REMOVED = /^mailcow-postfix-init: removed \d+ temp files? left by an interrupted run/;

/** Every line is the summary (exactly once) or one of the expected notes. */
function expectSniMapLines(result: RunResult, notes: RegExp[] = [WAITING, REMOVED]): void {
  expect(result.exitCode, result.stderr).toBe(0);
  expect(result.lines.filter((line) => SUMMARY.test(line))).toHaveLength(1);
  for (const line of result.lines) expect(SUMMARY.test(line) || notes.some((note) => note.test(line)), line).toBe(true);
  expect(new Set(result.lines).size).toBe(result.lines.length);
}

describe("writes stopped mid-way keep the previous file complete", () => {
  const STEP = join(import.meta.dir, "write-step.ts");
  /** Run one write step; under a file size limit of `limit` bytes when given. */
  const step = (kind: string, confDir: string, value: string, limit?: number) => {
    const valueFile = join(tempDir(), "value");
    writeFileSync(valueFile, value);
    return Bun.spawnSync([...(limit === undefined ? [] : ["prlimit", `--fsize=${limit}`]), BUN, STEP, kind, confDir, `@${valueFile}`], {
      stderr: "pipe",
      stdout: "pipe",
      env: testEnv(),
    });
  };
  const snapshot = (dir: string) => {
    const files: Record<string, string> = {};
    const visit = (path: string) => {
      for (const entry of readdirSync(path, { withFileTypes: true })) {
        const full = join(path, entry.name);
        if (entry.isDirectory()) visit(full);
        else files[full] = readFileSync(full).toString("base64");
      }
    };
    visit(dir);
    return files;
  };

  const kinds: { kind: string; arrange(confDir: string): void; before: string; after: string; limit: number }[] = [
    {
      kind: "main.cf",
      arrange: (c) => writeFileSync(join(c, "main.cf"), "# base\n# Overrides #\n"),
      before: "myhostname = a.example.test\n",
      after: `# ${"x".repeat(200)}\n`.repeat(1000),
      limit: 64 * 1024,
    },
    {
      kind: "extra.cf",
      arrange: (c) => writeFileSync(join(c, "extra.cf"), `# ${"y".repeat(200)}\n`.repeat(500)),
      before: "a.example.test",
      after: "b.example.test",
      limit: 64 * 1024,
    },
    { kind: "sql", arrange: () => {}, before: "password-A", after: `password-B-${"z".repeat(50)}`, limit: 200 },
  ];
  for (const { kind, arrange, before, after, limit } of kinds) {
    adversarial(`${kind}: a write cut off by the file size limit leaves the previous ${kind} byte for byte`, async () => {
      const confDir = join(tempDir(), "conf");
      mkdirSync(confDir);
      arrange(confDir);
      expect(step(kind, confDir, before).exitCode).toBe(0);
      const previous = snapshot(confDir);
      expect(Object.keys(previous).length).toBeGreaterThan(0);
      const cut = step(kind, confDir, after, limit);
      expect(cut.exitCode).not.toBe(0);
      expect(snapshot(confDir)).toEqual(previous);
      // Without the limit the same write goes through: the cut was what stopped it.
      expect(step(kind, confDir, after).exitCode).toBe(0);
      expect(snapshot(confDir)).not.toEqual(previous);
    });
  }

  adversarial("sni.map: postmap cut off by the file size limit leaves the previous pair, which agrees", async () => {
    const tree = freshTree();
    const pair = `${tree.sslDir}/key.pem ${tree.sslDir}/cert.pem`;
    expect(step("sni.map", tree.confDir, `${HOSTNAME} ${pair}\n`).exitCode).toBe(0);
    const previous = snapshot(tree.confDir);
    const many = Array.from({ length: 60 }, (_, index) => `n${index}.example.test ${pair}`).join("\n");
    const cut = step("sni.map", tree.confDir, `${HOSTNAME} ${pair}\n${many}\n`, 64 * 1024);
    expect(cut.exitCode).not.toBe(0);
    expect(snapshot(tree.confDir)).toEqual(previous);
    expectMapAgrees(tree.confDir);
  });
});

describe("kills and concurrent runs", () => {
  adversarial("8 runs killed at random instants (seed 9): each next run repairs, no temp file survives it", async () => {
    const random = seeded(9);
    const tree = freshTree();
    expect((await runBin(sniArgs(tree))).exitCode).toBe(0);
    for (let round = 0; round < 8; round++) {
      // Alternate inputs, so a mixed pair would show: the default names or the default plus www.
      writeFileSync(join(tree.sslDir, "other", "domains"), round % 2 ? "other.example.test" : "other.example.test www.other.example.test");
      const run = spawnBin(sniArgs(tree));
      await run.pid();
      // Kill somewhere in the run (it takes ~0.3-0.8 s here), postmap included.
      await Bun.sleep(Math.floor(random() * 600));
      await run.kill("SIGKILL");
      await run.done;
      const hadLeftovers = leftovers(tree.confDir).length > 0;
      const next = await runBin(sniArgs(tree));
      expectRun(next, { exitCode: 0, lines: hadLeftovers ? 2 : 1 });
      expectSniMapLines(next, [REMOVED]);
      const keys = expectMapAgrees(tree.confDir, ["other.example.test"]);
      expect(keys.includes("www.other.example.test")).toBe(round % 2 === 0);
      expect(leftovers(tree.confDir)).toEqual([]);
    }
  });

  adversarial("5 concurrent sni-map runs with different input, 2 rounds (seed 5): pair always from one run", async () => {
    const random = seeded(5);
    const tree = freshTree();
    for (let round = 0; round < 2; round++) {
      // Each run maps a different extra name for the default certificate (its --hostname).
      const names = Array.from({ length: 5 }, (_, index) => `h${round}-${index}-${Math.floor(random() * 1000)}.example.test`);
      const runs = names.map((name) => spawnBin(["sni-map", "--ssl-dir", tree.sslDir, "--conf-dir", tree.confDir, "--hostname", name]));
      const results = await Promise.all(runs.map((run) => run.done));
      for (const result of results) expectSniMapLines(result, [WAITING, /does not cover the hostname/]);
      const keys = expectMapAgrees(tree.confDir);
      // Exactly one run's hostname is in the pair: the last writer's.
      expect(names.filter((name) => keys.includes(name))).toHaveLength(1);
    }
  });

  adversarial("reload racing sni-map, 3 rounds: the pair agrees after each", async () => {
    const tree = freshTree();
    const fakeBin = join(tempDir(), "bin");
    mkdirSync(fakeBin);
    // `postfix reload` without a running Postfix: a stand-in that takes its time and succeeds.
    writeFileSync(join(fakeBin, "postfix"), "#!/bin/sh\nsleep 0.2\nexit 0\n");
    chmodSync(join(fakeBin, "postfix"), 0o755);
    const env = runEnv({ PATH: `${fakeBin}:${process.env.PATH}` });
    for (let round = 0; round < 3; round++) {
      writeFileSync(join(tree.sslDir, "other", "domains"), round % 2 ? "other.example.test" : "other.example.test www.other.example.test");
      const reload = spawnBin(["reload", "--ssl-dir", tree.sslDir, "--conf-dir", tree.confDir, "--hostname", HOSTNAME], { env });
      const sniMap = spawnBin(sniArgs(tree), { env });
      const [reloaded, mapped] = await Promise.all([reload.done, sniMap.done]);
      expect(reloaded.exitCode, reloaded.stderr).toBe(0);
      expectSniMapLines(mapped, [WAITING]);
      expectMapAgrees(tree.confDir, ["other.example.test"]);
    }
  });

  adversarial("a lock held elsewhere past MPI_LOCK_TIMEOUT: one waiting line, one error, nothing written", async () => {
    const tree = freshTree();
    const holder = await holdLock(tree.confDir);
    try {
      const result = await runBin(sniArgs(tree), { env: runEnv({ MPI_LOCK_TIMEOUT: "0.5" }) });
      expectRun(result, { exitCode: 1, lines: 2 });
      expect(result.lines[0]).toMatch(WAITING);
      expect(result.lines[1]).toContain(`still holds the lock on ${tree.confDir} after 0.5s; nothing was written`);
      expect(existsSync(join(tree.confDir, "sni.map"))).toBe(false);
    } finally {
      holder.kill("SIGKILL");
    }
  });

  adversarial("a lock released while waiting: the run goes on (waiting line + summary)", async () => {
    const tree = freshTree();
    const lockFile = tree.confDir;
    const holder = await holdLock(lockFile);
    const run = spawnBin(sniArgs(tree));
    // Released once the run has the lock file open (it is then polling for the lock).
    const pid = await run.pid();
    const holdsLockFile = () => {
      try {
        return readdirSync(`/proc/${pid}/fd`).some((fd) => readlinkSync(`/proc/${pid}/fd/${fd}`) === lockFile);
      } catch {
        return false;
      }
    };
    for (let attempt = 0; attempt < 2000 && !holdsLockFile(); attempt++) await Bun.sleep(5);
    await Bun.sleep(100);
    holder.kill("SIGKILL");
    const result = await run.done;
    expectRun(result, { exitCode: 0, lines: 2 });
    expect(result.lines[0]).toMatch(WAITING);
    expectMapAgrees(tree.confDir);
  });

  adversarial("temp files of killed runs, even fresh ones, are removed by the next run holding the lock", async () => {
    const tree = freshTree();
    mkdirSync(join(tree.confDir, "sql"));
    const planted = [
      ".sni.map.0123456789ab.tmp",
      ".sni.map.0123456789ab.tmp.db",
      "__db..sni.map.0123456789ab.tmp.db",
      "sql/.mysql_x.cf.0123456789ab.tmp",
      ".main.cf.abcdefabcdef.tmp",
    ];
    for (const name of planted) writeFileSync(join(tree.confDir, name), "PRIVATE KEY material of a killed run");
    const result = await runBin(sniArgs(tree));
    expectRun(result, { exitCode: 0, lines: 2 });
    expect(result.lines[0]).toBe(`mailcow-postfix-init: removed 5 temp files left by an interrupted run in ${tree.confDir}`);
    for (const name of planted) expect(existsSync(join(tree.confDir, name))).toBe(false);
  });

  adversarial("a run killed during postmap: previous pair kept and agreeing; the next run cleans up", async () => {
    const tree = freshTree();
    expect((await runBin(sniArgs(tree))).exitCode).toBe(0);
    const before = readFileSync(join(tree.confDir, "sni.map.db"));
    const fakeBin = join(tempDir(), "bin");
    mkdirSync(fakeBin);
    // A postmap that hangs after creating its output, like one stuck on a slow disk.
    const pidFile = join(fakeBin, "postmap.pid");
    writeFileSync(
      join(fakeBin, "postmap"),
      `#!/bin/sh\necho $$ > ${pidFile}\nfor last; do :; done\ntouch "\${last#hash:}.db"\nexec sleep 30\n`,
    );
    chmodSync(join(fakeBin, "postmap"), 0o755);
    const run = spawnBin(sniArgs(tree), { env: runEnv({ PATH: `${fakeBin}:${process.env.PATH}` }) });
    const deadline = Date.now() + 20_000;
    while (!readdirSync(tree.confDir).some((name) => name.endsWith(".tmp.db")) && Date.now() < deadline) await Bun.sleep(20);
    await run.kill("SIGKILL");
    await run.done;
    // The orphaned stand-in, by the PID it wrote.
    if (existsSync(pidFile)) process.kill(Number(readFileSync(pidFile, "utf8")), "SIGKILL");
    expect(readFileSync(join(tree.confDir, "sni.map.db")).equals(before)).toBe(true);
    expectMapAgrees(tree.confDir);
    const next = await runBin(sniArgs(tree));
    expectRun(next, { exitCode: 0, lines: 2 });
    expect(leftovers(tree.confDir)).toEqual([]);
  });
});
