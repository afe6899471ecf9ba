import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createMemoryLogger } from "../../../src/log.ts";
import { execMaster } from "../../../src/steps/exec-master.ts";

// docs/start.md, the last step: the start becomes Postfix's master (`master -s -c CONF`) without
// the secrets, saying so first; under supervisord (which starts each program as a process-group
// leader) it first joins its parent's group, or master's setsid() would fail.

test("the last step says what it runs, then becomes `master -s -c CONF` with the environment minus secrets", () => {
  const log = createMemoryLogger();
  const calls: unknown[] = [];
  execMaster(
    "/usr/lib/postfix/sbin/master",
    "/opt/conf",
    { PATH: "/bin", DBPASS: "secret", TZ: "UTC" },
    log,
    (...args) => void calls.push(args),
  );
  expect(log.lines).toEqual(["mailcow-postfix-init: starting Postfix: exec /usr/lib/postfix/sbin/master -s -c /opt/conf"]);
  expect(calls).toEqual([
    ["/usr/lib/postfix/sbin/master", ["/usr/lib/postfix/sbin/master", "-s", "-c", "/opt/conf"], { PATH: "/bin", TZ: "UTC" }],
  ]);
});

/** Process group of `pid` (field 5 of /proc/PID/stat). */
const groupOf = (pid: number | "self") =>
  Number(
    readFileSync(`/proc/${pid}/stat`, "utf8")
      .replace(/^.*\) /, "")
      .split(" ")[2],
  );

/** Runs leaveOwnProcessGroup in a process started by `wrapper`; its group before and after. */
function groupsAround(wrapper: string[]): { before: number; after: number; pid: number } {
  const module = join(import.meta.dir, "../../../src/steps/exec-master.ts");
  const script = `import { readFileSync } from "node:fs"; import { leaveOwnProcessGroup } from ${JSON.stringify(module)};
const group = () => Number(readFileSync("/proc/self/stat", "utf8").replace(/^.*\\) /, "").split(" ")[2]);
const before = group(); leaveOwnProcessGroup(); console.log(JSON.stringify({ before, after: group(), pid: process.pid }));`;
  const run = Bun.spawnSync([...wrapper, process.execPath, "-e", script], { stderr: "pipe" });
  if (run.exitCode !== 0) throw new Error(run.stderr.toString());
  return JSON.parse(run.stdout.toString());
}

test("a process-group leader (as supervisord starts programs) joins its parent's group; otherwise nothing changes", () => {
  const ours = groupOf("self");
  // perl's setpgrp makes the process that then becomes bun the leader of a group of its own.
  const leader = groupsAround(["perl", "-e", "setpgrp(0, 0); exec @ARGV or die"]);
  expect(leader.before).toBe(leader.pid);
  expect(leader.after).toBe(ours);
  const member = groupsAround([]);
  expect(member).toMatchObject({ before: ours, after: ours });
  // A session leader (setsid) may not change its group and needs not: master's setsid() is a no-op there.
  const session = groupsAround(["setsid", "--wait"]);
  expect(session.after).toBe(session.before);
  expect(session.before).toBe(session.pid);
});
