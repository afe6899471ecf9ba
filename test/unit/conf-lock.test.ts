import { describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { lockConfDir, withConfLock } from "../../src/conf-lock.ts";
import { UserError } from "../../src/errors.ts";
import { createMemoryLogger } from "../../src/log.ts";
import { tempDirs } from "../support/fixture.ts";

// One writer at a time in the conf dir: an exclusive flock(2) on the directory itself, taken by
// this process or, as in production, by another one (util-linux flock(1) stands in for a
// second run: the kernel lock is the same whoever holds it).

const tempDir = tempDirs("mpi-conf-lock-");

/** Another process holding the lock on DIR until `release` (SIGKILL drops it, as for a killed run; --no-fork: one process holds it). */
async function heldElsewhere(dir: string): Promise<{ release: () => Promise<void> }> {
  const holder = Bun.spawn(["flock", "--exclusive", "--no-fork", dir, "sh", "-c", "echo locked; exec sleep 30"], {
    stdout: "pipe",
    stderr: "ignore",
  });
  const reader = holder.stdout.getReader();
  await reader.read();
  reader.releaseLock();
  return {
    release: async () => {
      holder.kill("SIGKILL");
      await holder.exited;
    },
  };
}

describe("lockConfDir", () => {
  test("a second writer waits, says so once, and gets the lock when the first one dies", async () => {
    const dir = tempDir();
    const other = await heldElsewhere(dir);
    const log = createMemoryLogger();
    let acquired = false;
    const waiting = lockConfDir(dir, log, 120_000).then((lock) => {
      acquired = true;
      return lock;
    });
    await Bun.sleep(300);
    expect(acquired).toBe(false);
    await other.release();
    using _lock = await waiting;
    expect(acquired).toBe(true);
    expect(log.lines).toEqual([
      `mailcow-postfix-init: waiting for another mailcow-postfix-init run to finish writing in the conf dir (${dir})`,
    ]);
  });

  test("the lock timeout: gives up after that long with what to do; nothing runs", async () => {
    const dir = tempDir();
    const other = await heldElsewhere(dir);
    try {
      const started = Date.now();
      let ran = false;
      const failure = await withConfLock(dir, createMemoryLogger(), 300, async () => {
        ran = true;
      }).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(UserError);
      expect((failure as Error).message).toMatch(
        /still holds the lock on .* after 0\.3s; nothing was written\. Retry when it has finished \(--lock-timeout \/ MPI_LOCK_TIMEOUT sets the wait\)$/,
      );
      expect(Date.now() - started).toBeGreaterThanOrEqual(300);
      expect(ran).toBe(false);
    } finally {
      await other.release();
    }
  });

  test("held in this process: a second lock waits until the first is disposed", async () => {
    const dir = tempDir();
    const first = await lockConfDir(dir, createMemoryLogger(), 120_000);
    const refused = await lockConfDir(dir, createMemoryLogger(), 0).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(UserError);
    first[Symbol.dispose]();
    using _second = await lockConfDir(dir, createMemoryLogger(), 0);
  });

  test("temp files of killed runs are removed once the lock is held; everything else stays", async () => {
    const dir = tempDir();
    mkdirSync(join(dir, "sql"));
    const leftovers = [
      ".sni.map.0123456789ab.tmp",
      ".sni.map.0123456789ab.tmp.db",
      "__db..sni.map.0123456789ab.tmp.db",
      "sql/.mysql_virtual_alias_maps.cf.abcdef012345.tmp",
    ];
    const kept = ["main.cf", "sni.map", "notes.tmp", ".sni.map.XYZ.tmp", "sql/mysql_virtual_alias_maps.cf"];
    for (const name of [...leftovers, ...kept]) writeFileSync(join(dir, name), "x");
    // An SNI build's private copy of the judged values (key material), where /dev/shm was not usable.
    mkdirSync(join(dir, ".sni.map.0123456789ab.tmp.d"));
    writeFileSync(join(dir, ".sni.map.0123456789ab.tmp.d", "0"), "key material");
    const log = createMemoryLogger();
    using _lock = await lockConfDir(dir, log, 120_000);
    const present = [...readdirSync(dir).filter((name) => name !== "sql"), ...readdirSync(join(dir, "sql")).map((name) => `sql/${name}`)];
    expect(present.sort()).toEqual([...kept].sort());
    expect(log.lines).toEqual([`mailcow-postfix-init: removed 5 temp files left by an interrupted run in ${dir}`]);
  });

  test("a missing conf dir, a read-only one: one clear error each", async () => {
    const dir = tempDir();
    const errorOf = (path: string) =>
      lockConfDir(path, createMemoryLogger(), 120_000).then(
        () => "locked",
        (error: Error) => error.message,
      );
    expect(await errorOf(join(dir, "missing"))).toStartWith(
      `cannot open the conf dir ${join(dir, "missing")}: ENOENT; it must be an existing, writable directory`,
    );
    const readOnly = join(dir, "ro");
    mkdirSync(readOnly);
    expect(Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", readOnly]).exitCode).toBe(0);
    try {
      expect(await errorOf(readOnly)).toStartWith(`cannot create files in ${readOnly}: EROFS; the conf dir must be writable`);
    } finally {
      Bun.spawnSync(["umount", readOnly]);
    }
  });
});
