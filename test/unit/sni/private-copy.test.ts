import { afterAll, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { COPY_PREFIX, MEMORY_DIR, processTag, removeDeadCopies } from "../../../src/sni/private-copy.ts";
import { makeCertificate, makeCertificateDirectory } from "../../support/certs.ts";
import { testEnv } from "../../support/fixture.ts";
import { makeTempDir } from "../../support/tmp.ts";

// No copy of a private key outlives its run: the build's private copy (write.ts) is removed on
// every way out, SIGTERM/SIGINT/SIGHUP during the build included; one left by a run killed
// with SIGKILL is removed by the next run, whatever its age, while a live run's copy stays.

const temp = makeTempDir("mpi-private-copy-");
afterAll(() => temp.cleanup());
const MAIN = resolve(import.meta.dir, "../../../src/main.ts");

/** A tree, a conf dir, and a `postmap` first in PATH that marks its start and takes 3 s before running the real one. */
function fixture(label: string) {
  const root = join(temp.path, label);
  const sslDir = join(root, "ssl");
  const confDir = join(root, "conf");
  const bin = join(root, "bin");
  mkdirSync(confDir, { recursive: true });
  mkdirSync(bin);
  writeFileSync(join(confDir, "main.cf"), "");
  makeCertificate(sslDir, { names: ["mail.example.test"] });
  makeCertificateDirectory(sslDir, "a.example.test", ["a.example.test"]);
  const marker = join(root, "postmap-started");
  const real = Bun.which("postmap")!;
  writeFileSync(join(bin, "postmap"), `#!/bin/sh\ncase " $* " in *" -F "*) : > '${marker}'; sleep 3;; esac\nexec '${real}' "$@"\n`);
  chmodSync(join(bin, "postmap"), 0o755);
  const env = testEnv({ PATH: `${bin}:${process.env.PATH}`, MAIL_CONFIG: confDir });
  const cacheFile = join(root, "spool", "cache.json");
  const args = ["sni-map", "--ssl-dir", sslDir, "--conf-dir", confDir, "--hostname", "mail.example.test", "--cache-file", cacheFile];
  // A first start builds the table while judging (no private copy). Then a renewal under a
  // record of the last build that another postmap made (a new image): a build from scratch,
  // from the private copy.
  expect(Bun.spawnSync([process.execPath, MAIN, ...args], { env, stderr: "pipe" }).exitCode).toBe(0);
  makeCertificate(join(sslDir, "a.example.test"), { names: ["a.example.test"] });
  const recordFile = join(root, "spool", "sni.map.table.json");
  const [header, ...rest] = readFileSync(recordFile, "utf8").split("\n");
  writeFileSync(recordFile, [JSON.stringify({ ...JSON.parse(header!), builtBy: "another postmap" }), ...rest].join("\n"));
  return { sslDir, confDir, marker, env, args };
}

/** This PID's copies in shared memory. */
function copiesOf(pid: number): string[] {
  return readdirSync(MEMORY_DIR).filter((name) => name.startsWith(`${COPY_PREFIX}${pid}-`));
}

async function untilExists(path: string): Promise<void> {
  const started = Date.now();
  while (!existsSync(path)) {
    if (Date.now() - started > 20_000) throw new Error(`${path} never appeared`);
    await Bun.sleep(10);
  }
}

for (const [signal, status] of [
  ["SIGTERM", 143],
  ["SIGINT", 130],
  ["SIGHUP", 129],
] as const) {
  test(`${signal} during the build: the private copy is removed, the run ends as the signal ends it (${status})`, async () => {
    const { marker, env, args } = fixture(signal);
    const run = Bun.spawn([process.execPath, MAIN, ...args], { env, stdout: "ignore", stderr: "pipe" });
    await untilExists(marker);
    expect(copiesOf(run.pid)).toHaveLength(1); // postmap is reading it now
    run.kill(signal);
    expect(await run.exited).toBe(status);
    expect(copiesOf(run.pid)).toEqual([]);
  }, 30_000);
}

test("SIGKILL during the build leaves the copy; the next run removes it, however young", async () => {
  const { marker, env, args } = fixture("sigkill");
  const killed = Bun.spawn([process.execPath, MAIN, ...args], { env, stdout: "ignore", stderr: "ignore" });
  await untilExists(marker);
  killed.kill("SIGKILL");
  await killed.exited;
  const left = copiesOf(killed.pid);
  expect(left).toHaveLength(1);
  expect(readdirSync(join(MEMORY_DIR, left[0]!)).length).toBeGreaterThan(0); // key material
  const next = Bun.spawnSync([process.execPath, MAIN, ...args], { env: { ...env, PATH: process.env.PATH! }, stderr: "pipe" });
  expect(next.exitCode).toBe(0);
  expect(existsSync(join(MEMORY_DIR, left[0]!))).toBe(false);
}, 30_000);

test("a copy whose run still holds it is kept, even seen from another PID namespace; one no run holds is removed", async () => {
  // The run builds in its own PID namespace (a container beside us sharing /dev/shm): the PID
  // in its copy's name means another process here, or none.
  const { marker, env, args } = fixture("namespace");
  const run = Bun.spawn(["unshare", "--pid", "--fork", "--mount-proc", process.execPath, MAIN, ...args], {
    env,
    stdout: "ignore",
    stderr: "pipe",
  });
  await untilExists(marker);
  const theirs = readdirSync(MEMORY_DIR).filter((name) => name.startsWith(COPY_PREFIX) && readdirSync(join(MEMORY_DIR, name)).length > 0);
  // The same PID with another start time, no run holding it: the PID was reused by a process that made no copy.
  const reused = mkdtempSync(join(MEMORY_DIR, `${COPY_PREFIX}${process.pid}-1-`));
  // This process's own name, but nothing holds it either.
  const unheld = mkdtempSync(join(MEMORY_DIR, `${COPY_PREFIX}${processTag("self")}-`));
  try {
    removeDeadCopies();
    expect(existsSync(reused)).toBe(false);
    expect(existsSync(unheld)).toBe(false);
    for (const name of theirs) expect(existsSync(join(MEMORY_DIR, name))).toBe(true);
    const stderr = await new Response(run.stderr).text();
    expect({ status: await run.exited, stderr }).toEqual({ status: 0, stderr: expect.not.stringContaining("error:") });
    for (const name of theirs) expect(existsSync(join(MEMORY_DIR, name))).toBe(false); // removed by its run
  } finally {
    run.kill("SIGKILL");
    Bun.spawnSync(["rm", "-rf", reused, unheld]);
  }
}, 30_000);
