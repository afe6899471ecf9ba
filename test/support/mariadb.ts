import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa, type ResultPromise } from "execa";

// A private MariaDB (Debian's mariadb-server) on a unix socket in a temp dir, no TCP, for the
// database wait and the end-to-end test. Stopped by its own PID.

export interface TestDatabase {
  socket: string;
  dir: string;
  /** Run SQL as root over the socket (unix_socket auth, we are root). */
  sql(statements: string): Promise<string>;
  stop(): Promise<void>;
}

export async function startMariadb(options: { dir?: string; socketDir?: string } = {}): Promise<TestDatabase> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "mpi-mariadb-"));
  const dataDir = join(dir, "data");
  const socketDir = options.socketDir ?? dir;
  mkdirSync(socketDir, { recursive: true });
  const socket = join(socketDir, "mysqld.sock");
  await execa(
    "mariadb-install-db",
    ["--no-defaults", `--datadir=${dataDir}`, "--user=root", "--auth-root-authentication-method=socket", "--skip-test-db"],
    { stdin: "ignore" },
  );
  const server: ResultPromise = execa(
    "/usr/sbin/mariadbd",
    [
      "--no-defaults",
      `--datadir=${dataDir}`,
      `--socket=${socket}`,
      "--skip-networking",
      "--user=root",
      `--pid-file=${join(dir, "mariadbd.pid")}`,
      `--log-error=${join(dir, "error.log")}`,
      "--innodb-buffer-pool-size=16M",
      "--skip-log-bin",
    ],
    { stdin: "ignore", reject: false },
  );
  let exited = false;
  void server.then(() => {
    exited = true;
  });
  const sql = async (statements: string) =>
    (await execa("mariadb", ["--no-defaults", `--socket=${socket}`, "-uroot", "--batch", "--skip-column-names", "-e", statements])).stdout;
  const deadline = Date.now() + 20_000;
  for (;;) {
    const probe = await execa("mariadb-admin", ["--no-defaults", `--socket=${socket}`, "-uroot", "status"], { reject: false });
    if (probe.exitCode === 0) break;
    if (exited || Date.now() > deadline) {
      server.kill("SIGKILL");
      throw new Error(`mariadbd did not come up: ${probe.stderr}`);
    }
    await Bun.sleep(100);
  }
  return {
    socket,
    dir,
    sql,
    async stop() {
      server.kill("SIGTERM");
      const timer = setTimeout(() => server.kill("SIGKILL"), 10_000);
      await server;
      clearTimeout(timer);
      if (!options.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A database and user for the tests; the password is deliberately awkward for option files. */
export const TEST_DB = { name: "mailcow_test", user: "mailcow_test", password: `p#a"ss\\ w'rd` };

export async function createTestDatabase(db: TestDatabase): Promise<void> {
  const quoted = TEST_DB.password.replace(/\\/g, "\\\\").replace(/'/g, "\\'");
  await db.sql(
    `CREATE DATABASE ${TEST_DB.name}; CREATE USER '${TEST_DB.user}'@'localhost' IDENTIFIED BY '${quoted}';` +
      ` GRANT ALL ON ${TEST_DB.name}.* TO '${TEST_DB.user}'@'localhost';` +
      ` CREATE TABLE ${TEST_DB.name}.fixture_domain (name VARCHAR(255) PRIMARY KEY, enabled TINYINT NOT NULL);` +
      ` INSERT INTO ${TEST_DB.name}.fixture_domain VALUES ('example.test', 1), ('disabled.test', 0);` +
      // The other tables the fixture script's maps query, empty: mail can pass cleanup's lookups.
      ` CREATE TABLE ${TEST_DB.name}.fixture_alias (source VARCHAR(255) PRIMARY KEY, target VARCHAR(255) NOT NULL);` +
      ` CREATE TABLE ${TEST_DB.name}.fixture_mailbox (address VARCHAR(255) PRIMARY KEY, box VARCHAR(255) NOT NULL, settings JSON NOT NULL);`,
  );
}
