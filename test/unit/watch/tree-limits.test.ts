import { afterAll, expect, test } from "bun:test";
import { chmodSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir } from "../../support/tmp.ts";

// docs/watch.md, "Limits": what the watcher says when the kernel will not give it a watch (the
// inotify limit, a directory it may not read), and that its watches alone keep it running.
// test/support/tree-probe.ts watches the tree in a process of its own: as `nobody` for the
// permission cases, in a user namespace whose inotify limit is 3 watches for the limit
// (the host's limit is not touched).

const temp = makeTempDir("mpi-tree-limits-");
afterAll(temp.cleanup);
const BUN = process.execPath;
// Bundled into the temp dir: `nobody` may not read the checkout (a mutation sandbox is 0700).
const built = await Bun.build({ entrypoints: [join(import.meta.dir, "../../support/tree-probe.ts")], target: "bun", outdir: temp.path });
if (!built.success) throw new Error(`cannot bundle tree-probe.ts: ${built.logs.join("\n")}`);
const PROBE = join(temp.path, "tree-probe.js");
let made = 0;

function sslDirWith(dirs: string[]): string {
  const sslDir = join(temp.path, `ssl${made++}`);
  for (const dir of dirs) mkdirSync(join(sslDir, dir), { recursive: true });
  return sslDir;
}

function probe(wrapper: string[], sslDir: string): { count: number; lines: string[] } {
  const run = Bun.spawnSync([...wrapper, BUN, PROBE, sslDir], {
    cwd: temp.path,
    env: { ...process.env, HOME: temp.path },
    stderr: "pipe",
  });
  if (run.exitCode !== 0) throw new Error(`tree-probe failed: ${run.stderr.toString()}`);
  return JSON.parse(run.stdout.toString());
}
const asNobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];

test("the inotify watch limit reached: one warning naming the sysctl, the directories within the limit stay watched", () => {
  const sslDir = sslDirWith(["a", "b", "c", "d"]);
  const limited = ["unshare", "--user", "--map-root-user", "sh", "-c", 'echo 3 > /proc/sys/user/max_inotify_watches && exec "$@"', "limit"];
  expect(probe(limited, sslDir)).toEqual({
    count: 3,
    lines: [
      `mailcow-postfix-init: warning: inotify watch limit reached (fs.inotify.max_user_watches on the host): changes inside some certificate directories are seen only with the next change elsewhere in ${sslDir}; raise the limit (sysctl fs.inotify.max_user_watches)`,
    ],
  });
});

test("a directory it may not read: one warning naming it and the reason, the directories after it still watched", () => {
  const sslDir = sslDirWith(["a-closed", "b", "c"]);
  chmodSync(join(sslDir, "a-closed"), 0o700);
  expect(probe(asNobody, sslDir)).toEqual({
    count: 3,
    lines: [
      `mailcow-postfix-init: warning: cannot watch ${join(sslDir, "a-closed")} (EACCES); changes there are seen only with the next change elsewhere in ${sslDir}`,
    ],
  });
});

test("an SSL dir it may enter but not list: said for the watch and for the listing, once each", () => {
  const sslDir = sslDirWith(["a"]);
  chmodSync(sslDir, 0o711);
  expect(probe(asNobody, sslDir)).toEqual({
    count: 0,
    lines: [
      `mailcow-postfix-init: warning: cannot watch ${sslDir} (EACCES); changes there are seen only with the next change elsewhere in ${sslDir}`,
      `mailcow-postfix-init: warning: cannot list ${sslDir} (EACCES); new certificate directories are not watched until it can be read`,
    ],
  });
});

async function staysUp(sslDir: string): Promise<void> {
  const proc = Bun.spawn([BUN, PROBE, sslDir, "--stay"], { cwd: temp.path, stdout: "pipe", stderr: "ignore" });
  try {
    const reader = proc.stdout.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("watching\n");
    await Bun.sleep(500);
    expect(proc.exitCode).toBeNull();
  } finally {
    proc.kill("SIGKILL");
    await proc.exited;
  }
}

test("its watches alone keep the watching process running: an idle watcher sleeps, it does not exit", async () => {
  await staysUp(sslDirWith(["a"]));
});

test("so does the watch for an SSL dir that is not there yet", async () => {
  await staysUp(join(temp.path, "not-yet"));
});
