import { afterAll, afterEach, beforeEach } from "bun:test";
import { createHash } from "node:crypto";
import { chmodSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, type Stats } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copyOwnerGone } from "../../src/sni/private-copy.ts";

// Preloaded for every test file (bunfig.toml). Tests never read or change the machine's own
// Postfix: its configuration, spool, aliases and certificates belong to the host, and a test
// whose result depended on them passed on a bare Postfix install and failed on a configured one.
//
// 1. MAIL_CONFIG (the config dir Postfix's tools, and start's "image default config dir", read
//    when run without -c) points at an empty directory of this run, never /etc/postfix: every
//    Postfix tool a test starts without -c sees a bare install, whatever the host has.
// 2. After every test the host's Postfix state is compared with the state before it; a test
//    that changed a file's content, mode, owner or existence there fails, naming the path.
// 3. Nothing is left behind: a test after which a copy of private keys made by a finished run
//    is still in /dev/shm fails, naming it (and it is removed); temp dirs go to a directory of
//    this run (TMPDIR), and anything still there when the run ends fails the run, naming it.
//    (/tmp itself is shared with every other run on the machine, so a test that names /tmp
//    directly instead of tmpdir() is not checked: use tmpdir().)

/** Host paths no test may change. Directories are walked (the spool: directories only). */
export const HOST_POSTFIX_PATHS = [
  "/etc/postfix",
  "/var/spool/postfix",
  "/var/lib/postfix",
  "/etc/aliases",
  "/etc/aliases.db",
  "/etc/mailname",
  "/etc/ssl/mail",
  "/opt/postfix",
];

const testDefaultConfig = mkdtempSync(join(tmpdir(), "mpi-test-mail-config-"));
chmodSync(testDefaultConfig, 0o755);
/** The empty default config dir of this test run (what MAIL_CONFIG is set to). */
export const TEST_MAIL_CONFIG = testDefaultConfig;
process.env.MAIL_CONFIG = testDefaultConfig;

/** This run's temp dir (TMPDIR: os.tmpdir() and mktemp in children that inherit it). */
export const TEST_TMPDIR = mkdtempSync(join(tmpdir(), "mpi-tests-"));
chmodSync(TEST_TMPDIR, 0o755); // Postfix's unprivileged processes traverse test dirs
process.env.TMPDIR = TEST_TMPDIR;

const SHM = "/dev/shm";
const KEY_COPY = /^mailcow-postfix-init-sni-(\d+)-(\d+)-/;

/** Private key copies in /dev/shm whose owner has ended (no run holds its lock: src/sni/private-copy.ts). */
export function orphanedKeyCopies(dir = SHM): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((name) => {
    return KEY_COPY.test(name) && copyOwnerGone(join(dir, name));
  });
}

let copiesBefore = new Set(orphanedKeyCopies());
beforeEach(() => {
  copiesBefore = new Set(orphanedKeyCopies());
});

/** path -> "mode uid:gid [sha256]" for everything under `paths`; missing paths are absent. */
export function hostPostfixState(paths: readonly string[] = HOST_POSTFIX_PATHS): Map<string, string> {
  const state = new Map<string, string>();
  const visit = (path: string, filesToo: boolean) => {
    let stat: Stats;
    try {
      stat = lstatSync(path);
    } catch {
      return;
    }
    const owner = `${(stat.mode & 0o7777).toString(8)} ${stat.uid}:${stat.gid}`;
    if (stat.isDirectory()) {
      state.set(path, `d ${owner}`);
      // Queue files come and go while a host's Postfix runs; their directories are what
      // set-permissions and create-missing change.
      const below = filesToo && !path.startsWith("/var/spool/postfix");
      for (const name of readdirSync(path)) {
        const child = join(path, name);
        if (below || lstatSync(child).isDirectory()) visit(child, filesToo);
      }
    } else if (stat.isFile()) {
      // /var/lib/postfix's master.lock and prng_exch change under a running Postfix.
      const content = path.startsWith("/var/lib/postfix") ? "" : ` ${createHash("sha256").update(readFileSync(path)).digest("hex")}`;
      state.set(path, `f ${owner}${content}`);
    } else {
      state.set(path, `${stat.isSymbolicLink() ? "l" : "o"} ${owner}`);
    }
  };
  for (const path of paths) visit(path, true);
  return state;
}

/** One line per path whose state differs between two snapshots. Pure. */
export function stateDifferences(before: Map<string, string>, after: Map<string, string>): string[] {
  const differences: string[] = [];
  for (const path of new Set([...before.keys(), ...after.keys()])) {
    const was = before.get(path);
    const is = after.get(path);
    if (was !== is) differences.push(`${path}: ${was ?? "absent"} -> ${is ?? "absent"}`);
  }
  return differences.sort();
}

let baseline = hostPostfixState();

afterEach(() => {
  const leftCopies = orphanedKeyCopies().filter((name) => !copiesBefore.has(name));
  for (const name of leftCopies) rmSync(join(SHM, name), { recursive: true, force: true });
  if (leftCopies.length > 0) {
    throw new Error(
      `this test left copies of private keys in ${SHM} from runs that have ended (every exit path must remove them):\n  ${leftCopies.join("\n  ")}`,
    );
  }
  const now = hostPostfixState();
  const differences = stateDifferences(baseline, now);
  const mailConfig = process.env.MAIL_CONFIG;
  baseline = now; // report a change once, in the test that made it
  if (differences.length > 0) {
    throw new Error(
      `this test changed the host's Postfix (tests must use temp dirs or a namespace, see test/support/fixture.ts):\n  ${differences.join("\n  ")}`,
    );
  }
  if (mailConfig !== testDefaultConfig) {
    process.env.MAIL_CONFIG = testDefaultConfig;
    throw new Error(
      `this test left MAIL_CONFIG at ${mailConfig ?? "(unset)"}: Postfix's tools would read that config dir in the next tests`,
    );
  }
  if (readdirSync(testDefaultConfig).length > 0) {
    throw new Error(`this test left files in the run's empty default config dir ${testDefaultConfig}`);
  }
});

afterAll(() => {
  rmSync(testDefaultConfig, { recursive: true, force: true });
  const left = readdirSync(TEST_TMPDIR);
  rmSync(TEST_TMPDIR, { recursive: true, force: true });
  if (left.length > 0)
    throw new Error(`tests left these in the temp dir (remove what a test creates, in the test or its afterAll):\n  ${left.join("\n  ")}`);
});
