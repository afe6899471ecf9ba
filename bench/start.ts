#!/usr/bin/env bun
// Benchmark (not a timed test): `start` to the SMTP banner with MariaDB and DNS already up,
// and the binary's own share of it (start to the exec into Postfix's master), in the same
// container-shaped namespaces as test/integration/start-e2e.test.ts. For comparison, the
// stock-shaped startup script (test/fixtures/upstream-postfix.sh: mariadb-admin, dig, heredocs,
// `postfix start`) on an identical tree, in the same run.
//
//   sudo node_modules/.bin/bun bench/start.ts [--runs N]
//
// Run 1 of each is a first start (main.cf is cut and rewritten); the others are restarts on
// the same volume after the previous Postfix was killed (stale master.pid left behind), with
// /etc as the previous run left it (a container restarted, not created anew).

import { cpus } from "node:os";
import { mkdtempSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { createTestDatabase, startMariadb, TEST_DB, type TestDatabase } from "../test/support/mariadb.ts";
import { startContainerNamespace, type ContainerNamespace } from "../test/support/namespace.ts";
import { buildContainerRoot, FIXTURE_SCRIPT, HOSTNAME } from "../test/support/namespace-root.ts";
import { writeImageMainCfInside } from "../test/support/lived-in.ts";
import { preparedPhases } from "./prepared-line.ts";
import { buildCommand } from "./build-command.ts";

const runsFlag = process.argv.indexOf("--runs");
const RUNS = runsFlag === -1 ? 7 : Number(process.argv[runsFlag + 1]);
const REPO = resolve(import.meta.dir, "..");

/** Runs inside the namespace: wait for "220" on 127.0.0.1:25, print the time in ms. */
const WAIT_FOR_BANNER = `until (exec 3<>/dev/tcp/127.0.0.1/25 && read -r -t 2 line <&3 && [[ $line == 220* ]]) 2>/dev/null; do
  sleep 0.005
done
echo $(( $(date +%s%N) / 1000000 ))`;

interface Sample {
  bannerMs: number;
  execMs?: number;
  /** `start`'s own account before the exec (phase -> ms), from its "prepared in" line. */
  phases?: Record<string, number>;
}

async function buildBinary(dir: string): Promise<string> {
  const out = join(dir, "mailcow-postfix-init");
  const build = Bun.spawnSync(buildCommand([join(REPO, "src/main.ts"), join(REPO, "src/sni/validate-worker.ts")], out), { cwd: REPO });
  if (build.exitCode !== 0) throw new Error(`build failed: ${build.stderr.toString()}`);
  return out;
}

async function prepare(base: string, name: string): Promise<{ root: string; db: TestDatabase }> {
  const root = join(base, name);
  Bun.spawnSync(["mkdir", "-p", root]);
  buildContainerRoot(root, { prefix: "" });
  const db = await startMariadb({ dir: join(root, "mariadb"), socketDir: join(root, "var/run/mysqld") });
  await createTestDatabase(db);
  // The stock script passes -p$DBPASS unquoted (a space in the password breaks it): a plain one.
  await db.sql(`CREATE USER 'bench'@'localhost' IDENTIFIED BY 'bench-password'; GRANT ALL ON ${TEST_DB.name}.* TO 'bench'@'localhost';`);
  return { root, db };
}

async function measure(
  root: string,
  argv: string[],
  env: Record<string, string>,
  beforeStart?: (ns: ContainerNamespace) => Promise<void>,
): Promise<Sample> {
  // /etc kept between runs, as in a container that is restarted (not created anew).
  const ns = await startContainerNamespace(root, { keepEtc: true });
  try {
    await beforeStart?.(ns);
    const probe = ns.exec(["bash", "-c", WAIT_FOR_BANNER], { timeoutMs: 60_000 });
    let execAt: number | undefined;
    const started = Date.now();
    const start = await ns.spawn(argv, env, (text) => {
      if (execAt === undefined && text.includes("starting Postfix: exec")) execAt = Date.now();
    });
    const result = await probe;
    if (result.exitCode !== 0) throw new Error(`no banner: ${start.output()}`);
    return {
      bannerMs: Number(result.stdout.trim()) - started,
      execMs: execAt === undefined ? undefined : execAt - started,
      phases: preparedPhases(start.output()),
    };
  } finally {
    await ns.stop();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function report(name: string, samples: Sample[]): void {
  const [first, ...restarts] = samples;
  const fmt = (sample: Sample) => `${sample.bannerMs} ms${sample.execMs === undefined ? "" : ` (exec at ${sample.execMs} ms)`}`;
  console.log(`${name}:`);
  console.log(`  first start        start -> banner ${fmt(first!)}`);
  if (restarts.length) {
    const execs = restarts.flatMap((sample) => (sample.execMs === undefined ? [] : [sample.execMs]));
    console.log(
      `  restarts (n=${restarts.length})    start -> banner median ${median(restarts.map((s) => s.bannerMs))} ms, min ${Math.min(...restarts.map((s) => s.bannerMs))} ms` +
        (execs.length ? `; start -> exec median ${median(execs)} ms` : ""),
    );
    const phased = restarts.flatMap((sample) => (sample.phases ? [sample.phases] : []));
    if (phased.length) {
      const names = Object.keys(phased[0]!);
      console.log(
        `  restarts, start's own account (medians, ms): ${names.map((name) => `${name} ${median(phased.map((phases) => phases[name] ?? 0))}`).join(", ")}`,
      );
    }
  }
}

const base = mkdtempSync("/tmp/mpi-bench-start-");
const databases: TestDatabase[] = [];
try {
  const binary = await buildBinary(base);
  const env = {
    PATH: process.env.PATH!,
    DBNAME: TEST_DB.name,
    DBUSER: "bench",
    DBPASS: "bench-password",
    MAILCOW_HOSTNAME: HOSTNAME,
  };
  const ours = await prepare(base, "ours");
  const stock = await prepare(base, "stock");
  databases.push(ours.db, stock.db);

  // Both run Postfix's tools without -c where mailcow's script does (set-permissions, postmap,
  // postalias): the image's own main.cf goes into the namespace's /etc/postfix.
  // Paired: each round runs ours, then the stock-shaped script, so both see the same machine.
  const oursSamples: Sample[] = [];
  const stockSamples: Sample[] = [];
  for (let run = 0; run < RUNS; run++) {
    oursSamples.push(
      await measure(
        ours.root,
        [binary],
        { ...env, MPI_TEMPLATES: join(ours.root, "usr/local/share/templates.json") },
        writeImageMainCfInside,
      ),
    );
    stockSamples.push(await measure(stock.root, ["bash", FIXTURE_SCRIPT], env, writeImageMainCfInside));
  }
  console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? "unknown CPU"}; ${RUNS} runs each; compiled binary ${binary}`);
  report("mailcow-postfix-init start (compiled)", oursSamples);
  report("stock-shaped postfix.sh (test/fixtures/upstream-postfix.sh, postfix start)", stockSamples);
} finally {
  await Promise.all(databases.map((db) => db.stop()));
  rmSync(base, { recursive: true, force: true });
}
