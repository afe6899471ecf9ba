import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createMemoryLogger } from "../../../src/log.ts";
import { masterIsRunning } from "../../../src/postfix/index.ts";
import { testTools } from "../../support/postfix-tools.ts";
import { nobodyHoldsLock, removeStaleMasterPid } from "../../../src/steps/master-pid.ts";
import { daemonDirectory } from "../../support/postfix-server.ts";
import { makeTempDir, writeSettledFile } from "../../support/tmp.ts";

const temp = makeTempDir("mpi-pid-");
afterAll(temp.cleanup);
const conf = join(temp.path, "conf");
const spool = join(temp.path, "spool");
const pidFile = join(spool, "pid", "master.pid");
mkdirSync(conf);
mkdirSync(join(spool, "pid"), { recursive: true });
writeSettledFile(join(conf, "main.cf"), `queue_directory = ${spool}\n`);
const master = join(daemonDirectory(), "master");
const isRunning = () => masterIsRunning(testTools(), master, conf);

describe("master.pid", () => {
  test("absent: nothing to do", async () => {
    await removeStaleMasterPid(
      spool,
      async () => {
        throw new Error("must not be asked");
      },
      createMemoryLogger(),
    );
  });

  test("left by a dead master (not locked): removed, decided without running master -t", async () => {
    writeFileSync(pidFile, "    4242\n");
    const log = createMemoryLogger();
    await removeStaleMasterPid(
      spool,
      async () => {
        throw new Error("master -t must not be needed: nobody holds the lock");
      },
      log,
    );
    expect(existsSync(pidFile)).toBe(false);
    expect(log.lines).toEqual([`mailcow-postfix-init: removed stale ${pidFile}`]);
  });

  test("locked by a live process (as master locks it): kept, start refused", async () => {
    writeFileSync(pidFile, "    4243\n");
    // One process holding the lock (flock(1) would leave its child holding it after a kill).
    const holder = Bun.spawn(["bash", "-c", 'exec 9<>"$0"; flock 9; exec sleep 30', pidFile]);
    try {
      for (let i = 0; i < 50 && !(await isRunning()); i++) await Bun.sleep(20);
      expect(nobodyHoldsLock(pidFile)).toBe(false);
      let asked = 0;
      const askMaster = () => {
        asked++;
        return isRunning();
      };
      await expect(removeStaleMasterPid(spool, askMaster, createMemoryLogger())).rejects.toThrow(
        `a Postfix master (pid 4243) still holds ${pidFile}; stop it before starting another`,
      );
      expect(existsSync(pidFile)).toBe(true);
      expect(asked).toBe(1); // the lock is held: Postfix's own test decides
    } finally {
      holder.kill("SIGKILL");
      await holder.exited;
    }
  });

  test("nobody holding it is found again and again (the test's own lock goes with its descriptor)", () => {
    writeFileSync(pidFile, "    4244\n");
    expect([nobodyHoldsLock(pidFile), nobodyHoldsLock(pidFile)]).toEqual([true, true]);
    rmSync(pidFile);
  });

  test("a master.pid that cannot be opened for the test (a symlink) is left to master -t; an empty one names no pid", async () => {
    const target = join(temp.path, "elsewhere.pid");
    writeFileSync(target, "");
    symlinkSync(target, pidFile);
    expect(nobodyHoldsLock(pidFile)).toBe(false);
    await expect(removeStaleMasterPid(spool, async () => true, createMemoryLogger())).rejects.toThrow(
      `a Postfix master (pid unknown) still holds ${pidFile}; stop it before starting another`,
    );
    await removeStaleMasterPid(spool, async () => false, createMemoryLogger());
    expect(existsSync(pidFile)).toBe(false);
    expect(existsSync(target)).toBe(true);
  });
});
