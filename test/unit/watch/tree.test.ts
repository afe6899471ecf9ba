import { afterEach, expect, test } from "bun:test";
import { appendFileSync, mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createMemoryLogger } from "../../../src/log.ts";
import { watchCertificateTree, type TreeWatch } from "../../../src/watch/tree.ts";
import { makeTempDir } from "../../support/tmp.ts";

// docs/watch.md, "What it does": inotify watches on the SSL dir and each directory directly
// below it; an event names the source it concerns (the SSL dir for its own pairs and `domains`,
// else the directory). Real directories, real inotify; only the listener is the test's.

const open: { tree: TreeWatch; cleanup: () => void }[] = [];
afterEach(() => {
  for (const each of open.splice(0)) {
    each.tree.close();
    each.cleanup();
  }
});

function setUp(prepare: (sslDir: string) => void = (sslDir) => mkdirSync(sslDir)) {
  const temp = makeTempDir("mpi-tree-");
  const sslDir = join(temp.path, "ssl");
  prepare(sslDir);
  const events: string[] = [];
  const log = createMemoryLogger();
  const tree = watchCertificateTree(sslDir, (dir) => events.push(dir), log);
  open.push({ tree, cleanup: temp.cleanup });
  return { temp, sslDir, events, log, tree };
}

/** Until `events` holds `dir` (inotify delivers within milliseconds; 5 s is the margin for a loaded machine). */
async function seen(events: string[], dir: string): Promise<void> {
  const started = Date.now();
  while (!events.includes(dir) && Date.now() - started < 5_000) await Bun.sleep(10);
  expect(events).toContain(dir);
}

/** Events that arrive within `ms` (for a change nothing must report). */
async function quiet(events: string[], ms = 300): Promise<string[]> {
  events.length = 0;
  await Bun.sleep(ms);
  return [...events];
}

test("the SSL dir and each directory below it are watched: a pair written in either is reported as its source", async () => {
  const { sslDir, events, tree } = setUp((dir) => {
    mkdirSync(join(dir, "a.example.test"), { recursive: true });
    mkdirSync(join(dir, "b.example.test"));
    writeFileSync(join(dir, "not-a-directory"), "");
  });
  expect(tree.count).toBe(0);
  tree.sync();
  expect(tree.count).toBe(3);
  writeFileSync(join(sslDir, "b.example.test", "cert.pem"), "x");
  await seen(events, join(sslDir, "b.example.test"));
  events.length = 0;
  writeFileSync(join(sslDir, "cert.pem"), "x");
  await seen(events, sslDir);
  events.length = 0;
  writeFileSync(join(sslDir, "domains"), "x");
  await seen(events, sslDir);
  expect(events.every((dir) => dir === sslDir)).toBe(true);
});

test("a directory added below the SSL dir is reported by its name, and watched from the next sync on", async () => {
  const { sslDir, events, tree } = setUp();
  tree.sync();
  expect(tree.count).toBe(1);
  const dir = join(sslDir, "new.example.test");
  mkdirSync(dir);
  await seen(events, dir);
  tree.sync();
  expect(tree.count).toBe(2);
  events.length = 0;
  writeFileSync(join(dir, "key.pem"), "x");
  await seen(events, dir);
});

test("a directory swapped in by mv is watched anew; a removed one is dropped", async () => {
  const { temp, sslDir, events, tree } = setUp((dir) => mkdirSync(join(dir, "a.example.test"), { recursive: true }));
  tree.sync();
  const dir = join(sslDir, "a.example.test");
  const staged = join(temp.path, "staged");
  mkdirSync(staged);
  rmSync(dir, { recursive: true });
  renameSync(staged, dir);
  tree.sync();
  expect(tree.count).toBe(2);
  events.length = 0;
  writeFileSync(join(dir, "cert.pem"), "x");
  await seen(events, dir);
  rmSync(dir, { recursive: true });
  tree.sync();
  expect(tree.count).toBe(1);
});

test("a second sync of an unchanged tree keeps its watches: nothing is reported twice or lost", async () => {
  const { sslDir, events, tree } = setUp((dir) => {
    mkdirSync(join(dir, "a.example.test"), { recursive: true });
    writeFileSync(join(dir, "a.example.test", "cert.pem"), "");
  });
  tree.sync();
  tree.sync();
  expect(tree.count).toBe(2);
  appendFileSync(join(sslDir, "a.example.test", "cert.pem"), "x"); // one inotify event per watch
  await seen(events, join(sslDir, "a.example.test"));
  await Bun.sleep(100);
  expect(events.filter((dir) => dir === join(sslDir, "a.example.test"))).toHaveLength(1);
});

test("a link to a directory is watched, a link back to the SSL dir is not; a link loop is one warning while it exists", async () => {
  const { temp, sslDir, events, log, tree } = setUp((dir) => mkdirSync(dir));
  const target = join(temp.path, "elsewhere");
  mkdirSync(target);
  symlinkSync(target, join(sslDir, "linked.example.test"));
  symlinkSync(".", join(sslDir, "self"));
  symlinkSync("loop", join(sslDir, "loop"));
  tree.sync();
  expect(tree.count).toBe(2);
  const warning = `${join(sslDir, "loop")} is a symbolic link loop (ELOOP); not watched. Remove the link or point it at a directory`;
  expect(log.lines.filter((line) => line.includes(warning))).toHaveLength(1);
  tree.sync();
  expect(log.lines.filter((line) => line.includes(warning))).toHaveLength(1);
  writeFileSync(join(target, "cert.pem"), "x");
  await seen(events, join(sslDir, "linked.example.test"));
  // A second loop is its own line; a link to nothing is no loop and no line.
  symlinkSync("loop2", join(sslDir, "loop2"));
  symlinkSync(join(temp.path, "nothing"), join(sslDir, "dangling"));
  tree.sync();
  expect(log.lines).toHaveLength(2);
  expect(log.lines[1]).toContain(`${join(sslDir, "loop2")} is a symbolic link loop (ELOOP)`);
  rmSync(join(sslDir, "loop2"));
  // Gone and back: said again.
  rmSync(join(sslDir, "loop"));
  tree.sync();
  symlinkSync("loop", join(sslDir, "loop"));
  tree.sync();
  expect(log.lines.filter((line) => line.includes(warning))).toHaveLength(2);
  expect(log.lines).toHaveLength(3);
});

test("an SSL dir that is not there: one warning, its parent watched until it appears, then watched as usual", async () => {
  const { sslDir, events, log, tree } = setUp(() => {});
  tree.sync();
  tree.sync();
  const warning = `cannot watch the SSL directory ${sslDir} (ENOENT); waiting for it to appear`;
  expect(log.lines.filter((line) => line.includes(warning))).toHaveLength(1);
  expect(tree.count).toBe(0);
  mkdirSync(sslDir);
  await seen(events, sslDir);
  tree.sync();
  expect(tree.count).toBe(1);
  events.length = 0;
  writeFileSync(join(sslDir, "cert.pem"), "x");
  await seen(events, sslDir);
  // Removed again: its watches go, and it is waited for once more.
  rmSync(sslDir, { recursive: true });
  tree.sync();
  expect(tree.count).toBe(0);
  expect(log.lines.filter((line) => line.includes(warning))).toHaveLength(2);
});

test("an SSL dir path that is a file: one warning naming ENOTDIR", () => {
  const { log, tree, sslDir } = setUp((dir) => writeFileSync(dir, ""));
  tree.sync();
  expect(log.lines).toEqual([expect.stringContaining(`cannot watch the SSL directory ${sslDir} (ENOTDIR); waiting for it to appear`)]);
});

test("after close nothing is reported and nothing is watched", async () => {
  const { temp, sslDir, events, tree } = setUp((dir) => mkdirSync(join(dir, "a.example.test"), { recursive: true }));
  tree.sync();
  tree.close();
  expect(tree.count).toBe(0);
  writeFileSync(join(sslDir, "a.example.test", "cert.pem"), "x");
  writeFileSync(join(sslDir, "cert.pem"), "x");
  expect(await quiet(events)).toEqual([]);
  // The parent's watch of a missing SSL dir goes too.
  const missing = watchCertificateTree(join(temp.path, "absent"), (dir) => events.push(dir), createMemoryLogger());
  missing.sync();
  missing.close();
  mkdirSync(join(temp.path, "absent"));
  expect(await quiet(events)).toEqual([]);
});
