import { execa } from "execa";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeFileAtomic } from "../atomic-write.ts";

// The database check: `mariadb-admin status` on the socket with the configured credentials.
// The password goes into a 0600 option file inside a private 0700 directory (removed again),
// never into argv, where today's script shows it to every `ps`.

export const dbTools = { mariadbAdmin: "mariadb-admin" };

/** Quote a value for a MariaDB option file: double quotes, backslash escapes. */
export function optionFileValue(value: string): string {
  return `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/** The `[client]` section holding the credentials. */
export function renderClientOptions(user: string, password: string): string {
  return `[client]\nuser=${optionFileValue(user)}\npassword=${optionFileValue(password)}\n`;
}

/** A private option file for as long as `use` runs; always removed afterwards. */
export async function withClientOptionFile<T>(user: string, password: string, use: (path: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "mailcow-postfix-init-"));
  try {
    const file = join(dir, "client.cnf");
    writeFileAtomic(file, renderClientOptions(user, password), { mode: 0o600 });
    return await use(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One connection attempt; throws with mariadb-admin's own message while the DB is not ready. */
export async function probeDatabase(optionFile: string, socket: string, signal: AbortSignal): Promise<void> {
  const result = await execa(
    dbTools.mariadbAdmin,
    // --defaults-extra-file must come first; mariadb-admin ignores it anywhere else.
    [`--defaults-extra-file=${optionFile}`, `--socket=${socket}`, "--ssl=false", "--connect-timeout=5", "status"],
    { reject: false, stdin: "ignore", timeout: 15_000, cancelSignal: signal },
  );
  if (result.failed) {
    const reason = result.stderr.trim() || result.shortMessage || `mariadb-admin exit ${result.exitCode}`;
    throw new Error(reason.replace(/^mariadb-admin: /gm, ""));
  }
}
