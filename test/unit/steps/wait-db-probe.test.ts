import { afterAll, expect, test } from "bun:test";
import { chmodSync, closeSync, existsSync, mkdirSync, readFileSync, openSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { databaseClient, probeDatabase, withClientOptionFile } from "../../../src/steps/wait-db.ts";
import { makeTempDir } from "../../support/tmp.ts";

// docs/start.md, waiting for the database: one `mariadb-admin status` per attempt on the socket,
// the credentials in an option file it reads as its fd 3, never in argv or its environment.
// Here `mariadb-admin` is a script that records what it was given and answers as told; the
// real client against a real MariaDB is test/integration/wait-db.test.ts.

const temp = makeTempDir("mpi-wait-db-probe-");
afterAll(temp.cleanup);
let made = 0;

/** A stand-in client in a dir of its own: records argv, env and its option file, then runs `then`. */
function fakeClient(then: string) {
  const dir = join(temp.path, `client${made++}`);
  mkdirSync(dir);
  const program = join(dir, "mariadb-admin");
  writeFileSync(
    program,
    `#!/bin/sh\nprintf '%s\\n' "$@" > ${dir}/argv\n/usr/bin/env > ${dir}/env\nfile=\${1#--defaults-extra-file=}\n/bin/cat "$file" > ${dir}/options 2>/dev/null\n${then}\n`,
  );
  chmodSync(program, 0o755);
  const read = (name: string) => readFileSync(join(dir, name), "utf8");
  return { program, read };
}
const never = new AbortController().signal;

test("the client gets the option file as its fd 3, first in argv, the socket, no TLS, a 5 s connect timeout, and only its own environment", async () => {
  const fake = fakeClient("exit 0");
  // Descriptors up to 12 taken: the option file's is a two-digit one.
  const taken = Array.from({ length: 12 }, () => openSync("/dev/null", "r"));
  const client = databaseClient({ PATH: "/usr/bin:/bin", DBPASS: 'pa"ss\\word', TZ: "UTC" }, fake.program);
  expect(client.env).toEqual({ PATH: "/usr/bin:/bin", TZ: "UTC" });
  await withClientOptionFile("mailcow", 'pa"ss\\word', (optionFile) => probeDatabase(client, optionFile, "/run/mysqld/mysqld.sock", never));
  expect(fake.read("argv")).toBe(
    "--defaults-extra-file=/dev/fd/3\n--socket=/run/mysqld/mysqld.sock\n--ssl=false\n--connect-timeout=5\nstatus\n",
  );
  expect(fake.read("options")).toBe('[client]\nuser="mailcow"\npassword="pa\\"ss\\\\word"\n');
  for (const fd of taken) closeSync(fd);
  const env = fake.read("env").split("\n").filter(Boolean).sort();
  expect(env.filter((line) => !line.startsWith("PWD="))).toEqual(["PATH=/usr/bin:/bin", "TZ=UTC"]);
});

test("an option file that is a path is handed over as that path, even one with /dev/fd/ inside it", async () => {
  const fake = fakeClient("exit 0");
  mkdirSync(join(temp.path, "dev", "fd"), { recursive: true });
  const file = join(temp.path, "dev", "fd", "5");
  writeFileSync(file, "[client]\nuser=u\n");
  await probeDatabase(databaseClient({}, fake.program), file, "/s", never);
  expect(fake.read("argv").split("\n")[0]).toBe(`--defaults-extra-file=${file}`);
  expect(fake.read("options")).toBe("[client]\nuser=u\n");
});

test("not ready: the client's own message, without its program prefix on each line; without one, how it ended", async () => {
  const refused = fakeClient(
    "echo \"mariadb-admin: connect to server at 'localhost' failed\" >&2; echo \"mariadb-admin: error: 'Can't connect through socket' (mariadb-admin: as sent)\" >&2; echo >&2; exit 1",
  );
  const error = await probeDatabase(databaseClient({}, refused.program), "/dev/null", "/s", never).catch((caught: Error) => caught);
  expect((error as Error).message).toBe(
    "connect to server at 'localhost' failed\nerror: 'Can't connect through socket' (mariadb-admin: as sent)",
  );
  const silent = fakeClient("exit 7");
  await expect(probeDatabase(databaseClient({}, silent.program), "/dev/null", "/s", never)).rejects.toThrow(/exit code 7/);
});

test("a cancelled attempt is killed at once, even when the client holds on to SIGTERM", async () => {
  const stubborn = fakeClient("trap '' TERM; exec sleep 30");
  const stop = new AbortController();
  setTimeout(() => stop.abort(), 200);
  const since = Date.now();
  await expect(probeDatabase(databaseClient({}, stubborn.program), "/dev/null", "/s", stop.signal)).rejects.toThrow();
  expect(Date.now() - since).toBeLessThan(5_000);
});

test("the in-memory option file lives only while it is used; option dirs of runs that were killed are removed first", async () => {
  const gone = join(tmpdir(), "mailcow-postfix-init-999999999-abcdef");
  const ours = join(tmpdir(), `mailcow-postfix-init-${process.pid}-abcdef`);
  mkdirSync(gone);
  mkdirSync(ours);
  let fdPath = "";
  const seen = await withClientOptionFile("u", "p", async (path) => {
    fdPath = path;
    return { content: readFileSync(path, "utf8"), target: readlinkSync(path.replace("/dev/fd/", "/proc/self/fd/")) };
  });
  expect(fdPath).toMatch(/^\/dev\/fd\/\d+$/);
  expect(seen.content).toBe('[client]\nuser="u"\npassword="p"\n');
  expect(seen.target).toStartWith("/memfd:mariadb-client-options");
  expect(
    existsSync(fdPath.replace("/dev/fd/", "/proc/self/fd/")) &&
      readlinkSync(fdPath.replace("/dev/fd/", "/proc/self/fd/")).startsWith("/memfd:mariadb"),
  ).toBe(false);
  expect(existsSync(gone)).toBe(false);
  expect(existsSync(ours)).toBe(true);
  rmSync(ours, { recursive: true });
});
