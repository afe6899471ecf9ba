// `npm run mutation [-- PREFIX...]`: StrykerJS once per source file (mutation/modules.ts), each
// mutant run against that file's tests by Stryker's command runner, then the score per module
// from the JSON reports in reports/mutation/ (the last run of each module).
//   npm run mutation                      every module (about an hour and more on 2 cores)
//   npm run mutation -- src/sni/names.ts  one module; src/watch/ a directory
//   npm run mutation -- --report          only the table, from the reports there are
//   npm run mutation -- --survivors ...   also list each surviving mutant
// Concurrency: MPI_MUTATION_CONCURRENCY (default 1: the tests start Postfix, MariaDB and such).
// Isolation: see runStryker (MPI_MUTATION_SHARED=1 turns it off).
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { MODULES, TARGETS } from "./modules.ts";

const REPO = resolve(import.meta.dir, "..");
const REPORTS = join(REPO, "reports", "mutation");
const STRYKER = join(REPO, "node_modules", "@stryker-mutator", "core", "bin", "stryker.js");

interface Mutant {
  id: string;
  mutatorName: string;
  replacement?: string;
  status: string;
  location: { start: { line: number; column: number } };
}
interface Tally {
  killed: number;
  timeout: number;
  survived: number;
  noCoverage: number;
  invalid: number;
}

const reportName = (module: string) => module.replace(/^src\//, "").replace(/\.ts$/, "").replaceAll("/", "-");
const quote = (word: string) => (/^[\w./-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`);

// Each run in private mount and PID namespaces (root with util-linux's unshare): a mutant can
// do what the code under test never should, and has (one of the permission steps ran
// `postfix set-permissions` on the host's own Postfix). There the host's Postfix and mail
// directories are read-only, /tmp and /dev/shm are empty tmpfs (a killed mutant's leftovers,
// and concurrent runs' key copies, stay in them), and when the run ends the kernel ends every
// process it started (MariaDB and dnsmasq servers of tests a timeout killed). The shell stays
// PID 1 while Stryker runs, so orphans are reaped.
const PROTECTED = ["/etc/postfix", "/var/spool/postfix", "/var/lib/postfix", "/var/mail"];
const NAMESPACE_SETUP = [
  "set -e",
  "mount -t tmpfs -o mode=1777 mpi-mutation-shm /dev/shm",
  "mount -t tmpfs -o mode=1777 mpi-mutation-tmp /tmp",
  `for dir in ${PROTECTED.join(" ")}; do if [ -d "$dir" ]; then mount --bind "$dir" "$dir"; mount -o remount,bind,ro "$dir"; fi; done`,
  "mkdir -m 755 /tmp/mpi-mutation",
  "set +e",
  '"$@"',
].join("\n");

function isolated(): boolean {
  if (process.env.MPI_MUTATION_SHARED === "1") return false;
  return process.getuid?.() === 0 && Bun.which("unshare") !== null;
}

function runStryker(module: string): number {
  const tests = MODULES[module]!.map((word) => (word.endsWith(".ts") ? `./${word}` : word));
  console.log(`\n== ${module}: bun test ${tests.join(" ")}`);
  const stryker = ["node", STRYKER, "run", "mutation/stryker.config.mjs"];
  const env = { ...process.env, MPI_MUTATE: module, MPI_MUTATION_TESTS: tests.map(quote).join(" "), MPI_MUTATION_NAME: reportName(module) };
  if (isolated()) {
    const run = Bun.spawnSync(["unshare", "--mount", "--pid", "--fork", "--mount-proc", "--propagation", "private", "sh", "-c", NAMESPACE_SETUP, "sh", ...stryker], {
      cwd: REPO,
      stdio: ["ignore", "inherit", "inherit"],
      env: { ...env, TMPDIR: "/tmp/mpi-mutation" },
    });
    return run.exitCode ?? 1;
  }
  console.warn("mutation: not isolated (needs root and unshare, or MPI_MUTATION_SHARED=1 was set): a mutant runs with this machine's /tmp, /dev/shm and Postfix directories");
  // A mutant's run that bails at its first failure, or is killed at its timeout, skips the
  // tests' cleanup: their temp dirs go into this one (0755: Postfix's users traverse it), removed after.
  const tmp = mkdtempSync(join(tmpdir(), "mpi-mutation-"));
  chmodSync(tmp, 0o755);
  try {
    const run = Bun.spawnSync(stryker, { cwd: REPO, stdio: ["ignore", "inherit", "inherit"], env: { ...env, TMPDIR: tmp } });
    return run.exitCode ?? 1;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function mutantsOf(module: string): Mutant[] | undefined {
  const file = join(REPORTS, `${reportName(module)}.json`);
  if (!existsSync(file)) return undefined;
  const report = JSON.parse(readFileSync(file, "utf8")) as { files: Record<string, { mutants: Mutant[] }> };
  return Object.entries(report.files).find(([path]) => path.endsWith(module))?.[1].mutants ?? [];
}

function tally(mutants: readonly Mutant[]): Tally {
  const count = (...statuses: string[]) => mutants.filter((mutant) => statuses.includes(mutant.status)).length;
  return { killed: count("Killed"), timeout: count("Timeout"), survived: count("Survived"), noCoverage: count("NoCoverage"), invalid: count("CompileError", "RuntimeError") };
}

/** Stryker's mutation score: detected (killed + timeout) over valid mutants. */
function score(t: Tally): number | undefined {
  const valid = t.killed + t.timeout + t.survived + t.noCoverage;
  return valid === 0 ? undefined : (100 * (t.killed + t.timeout)) / valid;
}

function add(a: Tally, b: Tally): Tally {
  return { killed: a.killed + b.killed, timeout: a.timeout + b.timeout, survived: a.survived + b.survived, noCoverage: a.noCoverage + b.noCoverage, invalid: a.invalid + b.invalid };
}

function printTable(modules: readonly string[], survivors: boolean): boolean {
  const rows: string[][] = [["module", "mutants", "killed", "timeout", "survived", "no cov.", "score"]];
  const empty: Tally = { killed: 0, timeout: 0, survived: 0, noCoverage: 0, invalid: 0 };
  const groups = new Map(TARGETS.map((target) => [target.prefix, { tally: { ...empty }, measured: 0, missing: 0 }]));
  const row = (name: string, t: Tally | undefined) => {
    if (!t) return rows.push([name, "not run", "", "", "", "", ""]);
    const valid = t.killed + t.timeout + t.survived + t.noCoverage;
    const value = score(t);
    rows.push([name, String(valid), String(t.killed), String(t.timeout), String(t.survived), String(t.noCoverage), value === undefined ? "-" : `${value.toFixed(1)}%`]);
  };
  const lists: string[] = [];
  for (const module of modules) {
    const mutants = mutantsOf(module);
    const group = groups.get(TARGETS.find((target) => module.startsWith(target.prefix))?.prefix ?? "");
    if (!mutants) {
      row(module, undefined);
      if (group) group.missing++;
      continue;
    }
    const t = tally(mutants);
    row(module, t);
    if (group) {
      group.tally = add(group.tally, t);
      group.measured++;
    }
    if (survivors) {
      for (const mutant of mutants.filter((candidate) => candidate.status === "Survived" || candidate.status === "NoCoverage")) {
        lists.push(`${module}:${mutant.location.start.line}:${mutant.location.start.column} ${mutant.mutatorName} -> ${JSON.stringify(mutant.replacement ?? "")}${mutant.status === "NoCoverage" ? " (no coverage)" : ""}`);
      }
    }
  }
  let met = true;
  rows.push(["", "", "", "", "", "", ""]);
  for (const target of TARGETS) {
    const group = groups.get(target.prefix)!;
    if (group.measured === 0 && group.missing === 0) continue;
    const value = score(group.tally);
    const label = `${target.prefix} (target ${target.percent}%${group.missing > 0 ? `, ${group.missing} not run` : ""})`;
    row(label, group.measured > 0 ? group.tally : undefined);
    if (value === undefined || value < target.percent || group.missing > 0) met = false;
  }
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((cells) => cells[column]!.length)));
  console.log(`\nMutation score per module (StrykerJS, reports in ${REPORTS}):`);
  for (const cells of rows) console.log(cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join("  "));
  if (lists.length > 0) console.log(`\nSurviving mutants:\n${lists.join("\n")}`);
  return met;
}

const args = process.argv.slice(2);
const reportOnly = args.includes("--report");
const survivors = args.includes("--survivors");
const prefixes = args.filter((arg) => !arg.startsWith("--"));
const selected = Object.keys(MODULES).filter((module) => prefixes.length === 0 || prefixes.some((prefix) => module.startsWith(prefix)));
if (selected.length === 0) {
  console.error(`mutation: no module matches ${prefixes.join(" ")}; modules: ${Object.keys(MODULES).join(" ")}`);
  process.exit(2);
}
mkdirSync(REPORTS, { recursive: true });
const failed: string[] = [];
if (!reportOnly) for (const module of selected) if (runStryker(module) !== 0) failed.push(module);
const met = printTable(selected, survivors);
if (failed.length > 0) console.error(`mutation: Stryker failed for ${failed.join(", ")} (see above)`);
process.exitCode = failed.length > 0 ? 1 : met ? 0 : 3;
