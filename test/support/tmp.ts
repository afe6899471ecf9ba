import { chmodSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A temp directory that Postfix's unprivileged processes can traverse (mkdtemp gives 0700,
 * and master opens its lock file as the postfix user). Removed by the returned cleanup.
 */
export function makeTempDir(prefix = "mpi-test-"): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(path, 0o755);
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/**
 * Write a Postfix config file dated a minute back. Postfix tools re-read a main.cf younger
 * than ~2 s until it settles (300 ms naps), which would add 2 s to every test run.
 */
export function writeSettledFile(path: string, content: string): void {
  writeFileSync(path, content);
  const past = new Date(Date.now() - 60_000);
  utimesSync(path, past, past);
}
