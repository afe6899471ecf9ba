import { afterEach, expect, test } from "bun:test";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createMemoryLogger } from "../../../src/log.ts";
import { runHooks } from "../../../src/steps/hooks.ts";
import { tempDirs } from "../../support/fixture.ts";

// docs/start.md's /hooks rules beyond the exit status (hooks.test.ts): a hook gets exactly the
// environment it is given and no arguments, runs as long as it needs without a timeout, and
// with one is ended with everything it started (SIGTERM to its group first, SIGKILL for
// leftovers and for what ignores SIGTERM); SIGTERM to the start ends the running hook, runs no
// further one, and leaves daemons that earlier hooks started on purpose alone.

const tempDir = tempDirs("mpi-hooks-life-");
const started: number[] = [];
afterEach(() => {
  for (const pid of started.splice(0)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone, as it should be
    }
  }
});

function script(path: string, body: string): void {
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
}
const alive = (pid: number) => existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ");
/** The pid a hook wrote to `file`, remembered for cleanup. */
function pidIn(file: string): number {
  const pid = Number(readFileSync(file, "utf8"));
  started.push(pid);
  return pid;
}

test("a hook gets only the environment it is given and no arguments; without a timeout it runs as long as it needs", async () => {
  const dir = tempDir();
  const out = join(tempDir(), "out");
  process.env.MPI_NOT_FOR_HOOKS = "a secret of the start";
  try {
    script(join(dir, "slow"), `sleep 0.5; echo "args=$# secret=\${MPI_NOT_FOR_HOOKS:-none} given=$GIVEN" > ${out}`);
    const results = await runHooks(dir, { GIVEN: "yes", PATH: process.env.PATH }, createMemoryLogger());
    expect(results).toEqual([{ path: join(dir, "slow"), exitCode: 0, signal: undefined, timedOut: false }]);
    expect(readFileSync(out, "utf8")).toBe("args=0 secret=none given=yes\n");
  } finally {
    delete process.env.MPI_NOT_FOR_HOOKS;
  }
});

test("a hook killed by a signal is reported with the signal", async () => {
  const dir = tempDir();
  script(join(dir, "killed"), "kill -KILL $$");
  const log = createMemoryLogger();
  const [result] = await runHooks(dir, { PATH: process.env.PATH }, log);
  expect(result).toMatchObject({ signal: "SIGKILL", timedOut: false });
  expect(log.lines[1]).toBe(`mailcow-postfix-init: error: hook ${dir}/killed failed (killed by SIGKILL); continuing`);
});

test("at the timeout the hook gets SIGTERM; everything it started is ended, what ignores SIGTERM and what left its group too", async () => {
  const dir = tempDir();
  const files = tempDir();
  // The hook waits until its children run, so a loaded machine cannot reorder them.
  script(
    join(dir, "hangs"),
    `sleep 300 & echo $! > ${files}/child
(trap '' TERM; exec sleep 300) & echo $! > ${files}/stubborn
setsid sleep 300 & echo $! > ${files}/session
touch ${files}/ready
wait`,
  );
  // 3 s: time for the shell to start them on a loaded machine.
  const results = await runHooks(dir, { PATH: process.env.PATH }, createMemoryLogger(), 3_000);
  expect(results[0]!.timedOut).toBe(true);
  expect(existsSync(join(files, "ready"))).toBe(true);
  const [child, stubborn, session] = ["child", "stubborn", "session"].map((name) => pidIn(join(files, name)));
  // Left its group (setsid): found as our descendant all the same (the start is a subreaper while hooks run).
  await Bun.sleep(100);
  expect({
    childAlive: alive(child!),
    stubbornAlive: alive(stubborn!),
    sessionAlive: alive(session!),
    took: results[0]!.exitCode ?? results[0]!.signal,
  }).toEqual({ childAlive: false, stubbornAlive: false, sessionAlive: false, took: "SIGTERM" });
});

test("a hook that ignores SIGTERM is killed 5 s after its timeout", async () => {
  const dir = tempDir();
  script(join(dir, "ignores"), "trap '' TERM; sleep 300 & wait; wait");
  const since = Date.now();
  const [result] = await runHooks(dir, { PATH: process.env.PATH }, createMemoryLogger(), 200);
  expect(result).toMatchObject({ timedOut: true, signal: "SIGKILL" });
  expect(Date.now() - since).toBeGreaterThanOrEqual(5_000);
  expect(Date.now() - since).toBeLessThan(15_000);
}, 20_000);

test("SIGTERM to the start: the running hook ends with what it started, no further hook runs, an earlier hook's daemon stays", async () => {
  const dir = tempDir();
  const files = tempDir();
  script(join(dir, "1-daemon"), `sleep 300 > /dev/null 2>&1 & echo $! > ${files}/daemon`);
  script(join(dir, "2-hangs"), `sleep 300 & echo $! > ${files}/child; wait`);
  script(join(dir, "3-never"), `touch ${files}/ran`);
  const abort = new AbortController();
  // SIGTERM once the second hook runs (its child's pid is written).
  const watcher = setInterval(() => existsSync(join(files, "child")) && abort.abort(), 20);
  const since = Date.now();
  const results = await runHooks(dir, { PATH: process.env.PATH }, createMemoryLogger(), undefined, abort.signal);
  clearInterval(watcher);
  expect(Date.now() - since).toBeLessThan(10_000);
  expect(results.map((result) => result.path)).toEqual([join(dir, "1-daemon"), join(dir, "2-hangs")]);
  expect(existsSync(join(files, "ran"))).toBe(false);
  const daemon = pidIn(join(files, "daemon"));
  const child = pidIn(join(files, "child"));
  await Bun.sleep(100);
  expect(alive(child)).toBe(false);
  expect(alive(daemon)).toBe(true);
});
