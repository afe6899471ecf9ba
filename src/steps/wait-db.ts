import { closeSync, mkdtempSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeFileAtomic } from "../atomic-write.ts";
import { execaModule } from "../execa.ts";
import { ofGoneProcess, removeLeftovers } from "../leftovers.ts";
import { libc, MFD_CLOEXEC } from "../libc.ts";
import type { Env } from "../env.ts";
import { withoutSecrets } from "../secrets.ts";

// The database check: `mariadb-admin status` on the socket with the configured credentials.
// The password never goes into argv (where every `ps` would show it), nor into
// the child's environment, nor into a file that could outlive us: the option file is a memfd
// (an anonymous in-memory file, gone with the last process holding it, SIGKILL included),
// handed to mariadb-admin as its fd 3 and named /dev/fd/3. Where memfd_create is missing, a
// 0600 file in a private dir is used, and leftovers of killed runs are removed first.

/** The database client a start runs: which program, with the command's environment minus secrets. */
export interface DatabaseClient {
  readonly program: string;
  readonly env: Readonly<Record<string, string>>;
}

export function databaseClient(env: Env, program = "mariadb-admin"): DatabaseClient {
  return { program, env: withoutSecrets(env) };
}

/** The child's descriptor for the option file; `withClientOptionFile` names ours as /dev/fd/N. */
const CHILD_OPTION_FD = 3;
const FD_PATH = /^\/dev\/fd\/(\d+)$/;
const TEMP_PREFIX = "mailcow-postfix-init-";

/** Quote a value for a MariaDB option file: double quotes, backslash escapes. */
export function optionFileValue(value: string): string {
  return `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/** The `[client]` section holding the credentials. */
export function renderClientOptions(user: string, password: string): string {
  return `[client]\nuser=${optionFileValue(user)}\npassword=${optionFileValue(password)}\n`;
}

/**
 * A private option file for as long as `use` runs: `/dev/fd/N` for a memfd of ours (nothing
 * on disk), else a path in a private 0700 dir (removed afterwards).
 */
export async function withClientOptionFile<T>(user: string, password: string, use: (path: string) => Promise<T>): Promise<T> {
  const content = renderClientOptions(user, password);
  // Before anything else: option files that killed runs left behind.
  removeLeftoverOptionDirs();
  const fd = memoryFile(content);
  if (fd !== undefined) {
    try {
      return await use(`/dev/fd/${fd}`);
    } finally {
      closeSync(fd);
    }
  }
  const dir = mkdtempSync(join(tmpdir(), `${TEMP_PREFIX}${process.pid}-`));
  try {
    const file = join(dir, "client.cnf");
    writeFileAtomic(file, content, { mode: 0o600 });
    return await use(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A sealed-off in-memory file holding `content` (mode 0600: MariaDB ignores world-writable option files). */
function memoryFile(content: string): number | undefined {
  let calls: ReturnType<typeof libc>;
  try {
    calls = libc();
  } catch {
    return undefined;
  }
  const fd = calls.memfd_create(Buffer.from("mariadb-client-options\0"), MFD_CLOEXEC);
  if (fd < 0) return undefined;
  if (calls.fchmod(fd, 0o600) !== 0) {
    closeSync(fd);
    return undefined;
  }
  writeSync(fd, content);
  return fd;
}

/** Option-file dirs (`mailcow-postfix-init-PID-XXXXXX`) of runs that were killed: their PID no longer exists. */
function removeLeftoverOptionDirs(): void {
  removeLeftovers(tmpdir(), ofGoneProcess(new RegExp(`^${TEMP_PREFIX}(\\d+)-`)));
}

/** One connection attempt; throws with mariadb-admin's own message while the DB is not ready. */
export async function probeDatabase(client: DatabaseClient, optionFile: string, socket: string, signal: AbortSignal): Promise<void> {
  const fd = FD_PATH.exec(optionFile)?.[1];
  const childOptionFile = fd === undefined ? optionFile : `/dev/fd/${CHILD_OPTION_FD}`;
  const { execa } = await execaModule();
  const result = await execa(
    client.program,
    // --defaults-extra-file must come first; mariadb-admin ignores it anywhere else.
    [`--defaults-extra-file=${childOptionFile}`, `--socket=${socket}`, "--ssl=false", "--connect-timeout=5", "status"],
    {
      reject: false,
      // execa passes a number through to spawn as an inherited descriptor; its types omit that.
      stdio: (fd === undefined ? ["ignore", "pipe", "pipe"] : ["ignore", "pipe", "pipe", Number(fd)]) as ["ignore", "pipe", "pipe"],
      env: client.env,
      extendEnv: false,
      timeout: 15_000,
      cancelSignal: signal,
      // mariadb-admin catches SIGTERM and finishes its connect first (seconds); a probe is
      // stateless, so a cancelled one is killed outright.
      killSignal: "SIGKILL",
    },
  );
  if (result.failed) {
    const reason = result.stderr.trim() || result.shortMessage || `mariadb-admin exit ${result.exitCode}`;
    throw new Error(reason.replace(/^mariadb-admin: /gm, ""));
  }
}
