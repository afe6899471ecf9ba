import { chmodSync, copyFileSync, existsSync, linkSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { makeTempDir } from "./tmp.ts";

// The product as users get it: `npm run build`'s own command (package.json), compiled once per
// test run from the working tree into a temp dir, so it is always the code under test (dist/
// may be stale or missing).

const REPO = resolve(import.meta.dir, "../..");
let built: { path: string; cleanup: () => void } | undefined;

/** Path of the compiled binary of this test run; `cleanupBuiltBinary` removes it. */
export function builtBinary(): string {
  if (built) return built.path;
  const script: string = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")).scripts.build;
  const words = script.split(/\s+/);
  if (words[0] !== "bun" || !words.includes("--outfile")) throw new Error(`package.json's build script changed shape: ${script}`);
  const temp = makeTempDir("mpi-binary-");
  const path = join(temp.path, "mailcow-postfix-init");
  const args = words.slice(1).map((word, index, all) => (all[index - 1] === "--outfile" ? path : word));
  const result = Bun.spawnSync([process.execPath, ...args], { cwd: REPO, stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) {
    temp.cleanup();
    throw new Error(`${script} failed: ${result.stderr.toString()}`);
  }
  built = { path, cleanup: temp.cleanup };
  return path;
}

export function cleanupBuiltBinary(): void {
  built?.cleanup();
  built = undefined;
}

/** Run the compiled binary with exactly `env` as its process environment. */
export function runBinary(args: string[], env: Record<string, string>): { exitCode: number; stdout: string; stderr: string } {
  const result = Bun.spawnSync([builtBinary(), ...args], { env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

let reachable: { path: string; cleanup: () => void } | undefined;
/**
 * This Bun, at a path another user (nobody) can reach: the clone, and node_modules with it, may
 * sit in a 0700 directory (root's home, Stryker's sandbox). A hard link in a 0755 temp dir, or a
 * copy when /tmp is another filesystem; `cleanupReachableBun` removes it.
 */
export function reachableBun(): string {
  if (reachable && existsSync(reachable.path)) return reachable.path;
  const temp = makeTempDir("mpi-bun-");
  const path = join(temp.path, "bun");
  try {
    linkSync(process.execPath, path);
  } catch {
    copyFileSync(process.execPath, path);
    chmodSync(path, 0o755);
  }
  reachable = { path, cleanup: temp.cleanup };
  return path;
}

export function cleanupReachableBun(): void {
  reachable?.cleanup();
  reachable = undefined;
}
