// `npm run mutation:hook`: mutation testing of the update hook (docker/mailcow-postfix-init-hook,
// POSIX sh; StrykerJS does not mutate shell). Mutants are generated from the script's own lines
// by the operators below (conditions, operators, exit statuses, a command left out), each put
// into a copy of the repository in turn, and the hook's tests run on it: a mutant is killed
// when they fail (or hang past 60 s). Prints the score and every survivor.
//   MPI_HOOK_MUTATION_TESTS  test files (default: test/unit/update-hook-engine.test.ts, the
//                            Docker paths with a scripted `docker`, and
//                            test/unit/update-hook-script.test.ts; the container suite's
//                            test/integration/update-hook.test.ts runs them against a real
//                            engine, at minutes a mutant)
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";

const REPO = resolve(import.meta.dir, "..");
const HOOK = "docker/mailcow-postfix-init-hook";
const TESTS = (process.env.MPI_HOOK_MUTATION_TESTS ?? "test/unit/update-hook-engine.test.ts test/unit/update-hook-script.test.ts").split(/\s+/).filter(Boolean);
const TIMEOUT_MS = 60_000;

/** [name, pattern, replacement]: each match on a code line is one mutant. */
const OPERATORS: [string, RegExp, string][] = [
  ["and->or", /&&/g, "||"],
  ["or->and", /\|\|/g, "&&"],
  ["-lt->-ge", / -lt /g, " -ge "],
  ["-ge->-lt", / -ge /g, " -lt "],
  ["-gt->-le", / -gt /g, " -le "],
  ["=->!=", / = /g, " != "],
  ["!=->=", / != /g, " = "],
  ["-n->-z", /\[ -n /g, "[ -z "],
  ["-z->-n", /\[ -z /g, "[ -n "],
  ["test negated", /\[ -([fde]) /g, "[ ! -$1 "],
  ["negation dropped", /(\[|if|&&|\|\|) ! /g, "$1 "],
  ["if negated", /\bif (?!!)/g, "if ! "],
  ["exit 1->exit 0", /\bexit 1\b/g, "exit 0"],
  ["return 0->return 1", /\breturn 0\b/g, "return 1"],
  ["return 1->return 0", /\breturn 1\b/g, "return 0"],
  ["grep -x dropped", /grep -qx /g, "grep -q "],
];
/** A whole command left out (replaced by `:`), for lines that are one complete command. */
const DROPPABLE = /^\s*(chmod|chown|mv|rm|cp|say|conf_set|record_bun_pin|prune_ours|remove_block|install_block|wait_banner)\b/;

interface Mutant {
  line: number;
  operator: string;
  text: string;
}

function mutants(source: string): Mutant[] {
  const lines = source.split("\n");
  const found: Mutant[] = [];
  lines.forEach((original, index) => {
    if (index === 0 || /^\s*(#|$)/.test(original)) return;
    for (const [operator, pattern, replacement] of OPERATORS) {
      for (const match of original.matchAll(pattern)) {
        const mutated = original.slice(0, match.index) + match[0].replace(new RegExp(pattern.source), replacement) + original.slice(match.index! + match[0].length);
        found.push({ line: index + 1, operator, text: [...lines.slice(0, index), mutated, ...lines.slice(index + 1)].join("\n") });
      }
    }
    if (DROPPABLE.test(original) && !/(\\|\{|\(|\||&&)\s*$/.test(original)) {
      found.push({ line: index + 1, operator: "command dropped", text: [...lines.slice(0, index), original.replace(/^(\s*).*$/, "$1:"), ...lines.slice(index + 1)].join("\n") });
    }
  });
  return found;
}

/**
 * A clone of the repository (the hook reads its git history) with the working tree's tracked
 * files copied over it and node_modules linked: the repository the tests see.
 */
function sandbox(): string {
  const dir = mkdtempSync(join(tmpdir(), "mpi-hook-mutation-"));
  const clone = Bun.spawnSync(["git", "clone", "--quiet", "--shared", REPO, dir], { stderr: "pipe" });
  if (clone.exitCode !== 0) throw new Error(`git clone failed: ${clone.stderr.toString()}`);
  const files = Bun.spawnSync(["git", "ls-files", "-z"], { cwd: REPO, stdout: "pipe" }).stdout.toString().split("\0").filter(Boolean);
  for (const file of files) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    cpSync(join(REPO, file), join(dir, file));
  }
  symlinkSync(join(REPO, "node_modules"), join(dir, "node_modules"));
  return dir;
}

function testsPass(dir: string): "pass" | "fail" | "timeout" {
  // A run that bails or times out skips the tests' cleanup: their temp dirs stay in the sandbox.
  const tmp = join(dir, ".tmp");
  mkdirSync(tmp, { recursive: true, mode: 0o755 });
  const run = Bun.spawnSync([join(REPO, "node_modules/.bin/bun"), "test", "--bail", "--timeout", "20000", ...TESTS.map((file) => `./${file}`)], {
    cwd: dir,
    env: { ...process.env, TMPDIR: tmp },
    stdout: "ignore",
    stderr: "ignore",
    timeout: TIMEOUT_MS,
  });
  if (run.signalCode) return "timeout";
  return run.exitCode === 0 ? "pass" : "fail";
}

const source = readFileSync(join(REPO, HOOK), "utf8");
const all = mutants(source);
const dir = sandbox();
try {
  if (testsPass(dir) !== "pass") throw new Error(`the hook's tests fail without any mutant: fix them first (${TESTS.join(" ")})`);
  const survivors: Mutant[] = [];
  let killed = 0;
  for (const [index, mutant] of all.entries()) {
    writeFileSync(join(dir, HOOK), mutant.text, { mode: 0o755 });
    const outcome = testsPass(dir);
    if (outcome === "pass") survivors.push(mutant);
    else killed++;
    process.stderr.write(`\r${index + 1}/${all.length} mutants, ${survivors.length} survived`);
  }
  process.stderr.write("\n");
  const lines = source.split("\n");
  console.log(`${HOOK}: ${killed} of ${all.length} mutants killed (${((100 * killed) / all.length).toFixed(1)}%) by ${TESTS.join(" ")}`);
  for (const mutant of survivors) {
    const mutatedLine = mutant.text.split("\n")[mutant.line - 1]!.trim();
    console.log(`  survived ${HOOK}:${mutant.line} ${mutant.operator}: ${lines[mutant.line - 1]!.trim()}  =>  ${mutatedLine}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
