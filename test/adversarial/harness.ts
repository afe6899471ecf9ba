import { expect, test } from "bun:test";
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { makeCertificate, makeCertificateDirectory } from "../support/certs.ts";
import { makeTempDir, writeSettledFile } from "../support/tmp.ts";
import { buildContainerRoot, type ContainerRoot } from "../support/namespace-root.ts";
import { startDnsmasq, type TestDnsServer } from "../support/dns.ts";
import { testEnv } from "../support/fixture.ts";
import { cleanupReachableBun, reachableBun } from "../support/binary.ts";

// The binary as an attacker or a careless admin meets it: a subprocess (`bun src/main.ts`)
// under /usr/bin/time, so every case can assert exit code, the exact log lines, that nothing
// planted leaks into any output, that sni.map and sni.map.db agree, and time and peak memory.

export const REPO = resolve(import.meta.dir, "../..");
export const BUN = process.execPath;
/** Peak RSS of one run (bun itself is ~60-120 MB); /dev/zero read unbounded reached 16 GB. */
export const RSS_CAP_KB = 400 * 1024;
export const HOSTNAME = "mail.example.test";

/** Secrets planted in the environment of every run; none may appear in any output. */
export const SECRETS = {
  DBPASS: `Db"pa\\ss-PLANTED-1`,
  REDISPASS: "redis-PLANTED-2",
  SPAMHAUS_DQS_KEY: "dqsPLANTED3key",
  MY_API_TOKEN: "token-PLANTED-4",
};
/** Every printed form of the planted secrets (raw and JSON-escaped). */
const jsonEscaped = (value: string) => JSON.stringify(value).slice(1, -1);
export const SECRET_FORMS = Object.values(SECRETS).flatMap((value) => [value, jsonEscaped(value), jsonEscaped(jsonEscaped(value))]);
/** Content planted in files outside the SSL dir (a stand-in for /etc/shadow). */
export const PLANTED_FILE_TEXT = "root:$6$PLANTEDSHADOW$hash:19000:0:99999:7:::";

export interface RunResult {
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  /** stderr split into lines (the log). */
  lines: string[];
  ms: number;
  rssKb: number;
}

const cleanups: (() => void)[] = [];
/** Undo in reverse order (a mount before the directory holding it). */
export function cleanUp(): void {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
  // The bundle and the base tree went with them; the next test file makes its own.
  bundle = undefined;
  base = undefined;
  cleanupReachableBun();
  answering = undefined;
}

/** A tmpfs of `size` (e.g. "96k") on `dir` (created), read-only with `ro`; unmounted by cleanUp. */
export function mountTmpfs(dir: string, size: string, ro = false): void {
  mkdirSync(dir, { recursive: true });
  const mounted = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", `size=${size},mode=0755${ro ? ",ro" : ""}`, "tmpfs", dir], {
    stderr: "pipe",
  });
  if (mounted.exitCode !== 0) throw new Error(`mount tmpfs on ${dir}: ${mounted.stderr.toString()}`);
  cleanups.push(() => void Bun.spawnSync(["umount", "-l", dir]));
}

export function tempDir(prefix = "mpi-adv-"): string {
  const temp = makeTempDir(prefix);
  cleanups.push(temp.cleanup);
  return temp.path;
}

/** Environment of a run: PATH, the run's empty MAIL_CONFIG (host-guard.ts), the planted secrets, plus `extra`. */
export function runEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { ...testEnv(), ...SECRETS, ...extra };
}

export interface Spawned {
  /** PID of the program itself (not of /usr/bin/time); -1 when it ended before it was seen. */
  pid(): Promise<number>;
  done: Promise<RunResult>;
  kill(signal: NodeJS.Signals): Promise<void>;
  /** Resolves once a log line matches (30 s at most). */
  waitForLine(pattern: RegExp): Promise<void>;
}

export interface RunOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Run as this uid (and gid), e.g. 65534 (nobody). */
  user?: number;
}

/** At most this many runs at once (test.concurrent would start them all on 2 shared cores). */
const MAX_PARALLEL_RUNS = 3;
let running = 0;
const queue: (() => void)[] = [];
async function slot(): Promise<() => void> {
  if (running >= MAX_PARALLEL_RUNS) await new Promise<void>((resolve) => queue.push(resolve));
  running++;
  return () => {
    running--;
    queue.shift()?.();
  };
}

let bundle: string | undefined;
/**
 * src/ bundled once per test run (bun build, ~0.4 s): each run then starts in ~0.2 s instead of
 * transpiling every module again. Built from the working tree, so it is the code under test.
 */
export function programPath(): string {
  // Built again when another test file's cleanup removed it (the module is shared by all files).
  if (bundle && existsSync(bundle)) return bundle;
  const out = join(tempDir("mpi-adv-bundle-"), "main.js");
  const built = Bun.spawnSync([BUN, "build", join(REPO, "src/main.ts"), "--target=bun", `--outfile=${out}`], {
    stderr: "pipe",
    stdout: "pipe",
  });
  if (built.exitCode !== 0) throw new Error(`bun build failed: ${built.stderr.toString()}`);
  bundle = out;
  return out;
}

/** Start the binary with `args` under /usr/bin/time. */
export function spawnBin(args: string[], options: RunOptions = {}): Spawned {
  const timeFile = join(tempDir("mpi-adv-time-"), "time");
  const started = Date.now();
  // Another user gets a Bun and a working directory it can reach (the clone may be in a 0700 home).
  const bun = options.user === undefined ? BUN : reachableBun();
  const child = Bun.spawn(["/usr/bin/time", "-f", "%M", "-o", timeFile, ...asUser(options.user), bun, programPath(), ...args], {
    cwd: options.cwd ?? (options.user === undefined ? REPO : dirname(programPath())),
    env: options.env ?? runEnv(),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const stdout = new Response(child.stdout).text();
  // stderr as it arrives, so a test can act on a log line (waitForLine).
  let stderrSoFar = "";
  const stderr = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) stderrSoFar += decoder.decode(chunk, { stream: true });
    return stderrSoFar;
  })();
  const done = (async (): Promise<RunResult> => {
    await child.exited;
    const ms = Date.now() - started;
    const [out, err] = await Promise.all([stdout, stderr]);
    const timeText = existsSync(timeFile) ? readFileSync(timeFile, "utf8") : "";
    // "Command terminated by signal 15\n123456" or "Command exited with non-zero status 1\n123456".
    const signalMatch = /terminated by signal (\d+)/.exec(timeText);
    const statusMatch = /non-zero status (\d+)/.exec(timeText);
    const rssKb = Number(timeText.trim().split("\n").pop());
    const exitCode = signalMatch ? null : statusMatch ? Number(statusMatch[1]) : child.exitCode;
    return {
      exitCode,
      signal: signalMatch ? signalName(Number(signalMatch[1])) : null,
      stdout: out,
      stderr: err,
      lines: err.split("\n").filter((line) => line !== ""),
      ms,
      rssKb,
    };
  })();
  let found: number | undefined;
  const pid = async () => {
    for (let attempt = 0; found === undefined && attempt < 2000 && child.exitCode === null; attempt++) {
      found = readChildren(child.pid)[0];
      if (found === undefined) await Bun.sleep(5);
    }
    if (found === undefined && child.exitCode === null) throw new Error("the program did not start under /usr/bin/time");
    return found ?? -1;
  };
  // A run that already ended is not signalled (its PID may be reused by then).
  const kill = async (signal: NodeJS.Signals) => {
    const target = await pid();
    if (target <= 0 || child.exitCode !== null) return;
    try {
      process.kill(target, signal);
    } catch (error) {
      // Ended between the check and the kill (/usr/bin/time has not exited yet).
      if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
    }
  };
  const waitForLine = async (pattern: RegExp) => {
    for (let attempt = 0; attempt < 6000; attempt++) {
      if (stderrSoFar.split("\n").some((line) => pattern.test(line))) return;
      if (child.exitCode !== null) break;
      await Bun.sleep(5);
    }
    throw new Error(`no log line matching ${pattern} in:\n${stderrSoFar}`);
  };
  return { pid, done, kill, waitForLine };
}

/** Run to the end, at most MAX_PARALLEL_RUNS at a time; time is measured from the spawn. */
export async function runBin(args: string[], options: RunOptions = {}): Promise<RunResult> {
  const release = await slot();
  try {
    return await spawnBin(args, options).done;
  } finally {
    release();
  }
}

/** setpriv execs the program in place, so the PID under /usr/bin/time is still the program's. */
function asUser(uid: number | undefined): string[] {
  return uid === undefined ? [] : ["setpriv", `--reuid=${uid}`, `--regid=${uid}`, "--clear-groups"];
}

export function readChildren(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function signalName(number: number): string {
  return ({ 2: "SIGINT", 9: "SIGKILL", 15: "SIGTERM" } as Record<number, string>)[number] ?? String(number);
}

export interface Expectations {
  exitCode: number | null;
  /** Exact number of log lines on stderr. */
  lines: number;
  /** Substrings that must not appear anywhere (planted file contents); secrets are always checked. */
  planted?: string[];
  maxMs?: number;
  maxRssKb?: number;
}

/** The assertions every adversarial case makes. */
export function expectRun(result: RunResult, expected: Expectations): void {
  const context = `exit ${result.exitCode}${result.signal ? ` (${result.signal})` : ""}, stderr:\n${result.stderr}`;
  expect(result.exitCode, context).toBe(expected.exitCode);
  expect(result.lines, context).toHaveLength(expected.lines);
  const everything = result.stdout + result.stderr;
  for (const planted of [...SECRET_FORMS, PLANTED_FILE_TEXT, "PLANTEDSHADOW", ...(expected.planted ?? [])]) {
    expect(everything.includes(planted), `planted ${JSON.stringify(planted)} leaked:\n${everything}`).toBe(false);
  }
  for (const line of result.lines) {
    // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
    expect(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/.test(line), `control character in ${JSON.stringify(line)}`).toBe(false);
    expect(line, "a stack trace").not.toMatch(/^\s+at |internal error/);
  }
  expect(result.ms).toBeLessThan(expected.maxMs ?? 10_000);
  expect(result.rssKb).toBeGreaterThan(0);
  expect(result.rssKb).toBeLessThan(expected.maxRssKb ?? RSS_CAP_KB);
}

/** A fresh SSL dir (default pair for HOSTNAME + example.test, one directory `other`) and conf dir. */
export function freshTree(): { root: string; sslDir: string; confDir: string } {
  const root = tempDir();
  const sslDir = join(root, "ssl");
  const confDir = join(root, "conf");
  mkdirSync(confDir);
  writeSettledFile(join(confDir, "main.cf"), "compatibility_level = 3.6\nmyhostname = test.invalid\n");
  copyTree(baseTree(), sslDir);
  return { root, sslDir, confDir };
}

let base: string | undefined;
/** Certificates are made once (openssl) and copied per case. */
function baseTree(): string {
  // Made again when another test file's cleanup removed it (the module is shared by all files).
  if (base && existsSync(base)) return base;
  base = tempDir("mpi-adv-base-");
  makeCertificate(base, { names: [HOSTNAME, "example.test"] });
  makeCertificateDirectory(base, "other", ["other.example.test", "www.other.example.test"]);
  makeCertificateDirectory(base, "third", ["third.example.test"]);
  return base;
}

function copyTree(from: string, to: string): void {
  const result = Bun.spawnSync(["cp", "-a", from, to]);
  if (result.exitCode !== 0) throw new Error(result.stderr.toString());
}

/** `sni-map` on the tree, for HOSTNAME unless `extra` gives its own --hostname (a flag may be given once). */
export const sniArgs = (tree: { sslDir: string; confDir: string }, ...extra: string[]) => {
  const hostname = extra.some((word) => word === "--hostname" || word.startsWith("--hostname=")) ? [] : ["--hostname", HOSTNAME];
  return ["sni-map", "--ssl-dir", tree.sslDir, "--conf-dir", tree.confDir, ...hostname, ...extra];
};

/** The keys of sni.map (text) and of sni.map.db (postmap -s) are the same, and samples resolve. */
export function expectMapAgrees(confDir: string, mustContain: string[] = [HOSTNAME]): string[] {
  const mapFile = join(confDir, "sni.map");
  const text = readFileSync(mapFile, "utf8");
  const keys = text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => line.split(" ")[0]!)
    .sort();
  const stored = Bun.spawnSync(["postmap", "-c", confDir, "-s", `hash:${mapFile}`], { stderr: "pipe" });
  expect(stored.exitCode).toBe(0);
  const storedKeys = stored.stdout
    .toString()
    .split("\n")
    .filter(Boolean)
    .map((line) => line.split("\t")[0]!)
    .sort();
  expect(storedKeys).toEqual(keys);
  for (const name of [...mustContain, ...keys.slice(0, 3)]) {
    const query = Bun.spawnSync(["postmap", "-c", confDir, "-q", name, `hash:${mapFile}`]);
    expect(query.exitCode, `postmap -q ${name}`).toBe(0);
    expect(query.stdout.toString().length).toBeGreaterThan(100);
  }
  return keys;
}

/** Files of the conf dir that are not the lock, the map pair, main.cf or the cache: temp leftovers. */
export function leftovers(confDir: string): string[] {
  const expected = new Set(["sni.map", "sni.map.db", "main.cf", "sql"]);
  return readdirSync(confDir).filter((name) => !expected.has(name));
}

export function write(path: string, content: string | Buffer): void {
  writeFileSync(path, content);
}

export function remove(path: string): void {
  rmSync(path, { recursive: true, force: true });
}

/** A deterministic PRNG for random kills and concurrent inputs. */
export { seeded } from "../support/seeded.ts";

/** One adversarial case: concurrent with the others (runs are throttled by runBin), generous timeout on a shared machine. */
export function adversarial(name: string, body: () => Promise<void>): void {
  test.concurrent(name, body, 120_000);
}

/** A container-shaped tree for `start` (test/support/namespace-root.ts) and its flags. */
export function startTree(): { root: ContainerRoot; flags: string[] } {
  const dir = tempDir("mpi-adv-start-");
  const root = buildContainerRoot(dir, { prefix: dir });
  const flags = [
    ...root.startFlags,
    `--base-image-file=${join(dir, "none")}`,
    `--mailcow-compose-file=${join(dir, "none")}`,
    "--asn-check-url=http://127.0.0.1:9/",
  ];
  return { root, flags };
}

/**
 * dnsmasq answering the DNS probe at once, shared by a test file: `start` waits for the
 * database and DNS side by side, so tests about one wait keep the other out of the way.
 */
let answering: Promise<TestDnsServer> | undefined;
export function answeringDns(): Promise<TestDnsServer> {
  if (!answering) {
    answering = startDnsmasq();
    const started = answering;
    cleanups.push(() => void started.then((server) => server.stop()));
  }
  return answering;
}

/** The environment `start` needs, with the planted secrets. */
export function startEnv(extra: Record<string, string> = {}): Record<string, string> {
  return runEnv({ DBNAME: "mailcow", DBUSER: "mailcow", MAILCOW_HOSTNAME: HOSTNAME, ...extra });
}

/**
 * A unix socket that accepts connections into its backlog and never says a word: mariadb-admin
 * connects and then blocks reading the server greeting (a hung MariaDB).
 */
export async function silentSocket(): Promise<string> {
  const path = join(tempDir("mpi-adv-sock-"), "mysqld.sock");
  const server = Bun.spawn(
    [
      "python3",
      "-c",
      "import socket,sys,time; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(64); print('ready', flush=True); time.sleep(120)",
      path,
    ],
    { stdin: "ignore", stdout: "pipe" },
  );
  const reader = server.stdout.getReader();
  await reader.read();
  reader.releaseLock();
  cleanups.push(() => server.kill("SIGKILL"));
  return path;
}

/** Every descendant of `pid` with its argv and environment, read from /proc (gone ones skipped). */
export function childProcesses(pid: number): { pid: number; cmdline: string; environ: string }[] {
  const result: { pid: number; cmdline: string; environ: string }[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift()!;
    for (const child of readChildren(parent)) {
      queue.push(child);
      try {
        result.push({
          pid: child,
          cmdline: readFileSync(`/proc/${child}/cmdline`, "utf8"),
          environ: readFileSync(`/proc/${child}/environ`, "utf8"),
        });
      } catch {
        // exited meanwhile
      }
    }
  }
  return result;
}

/** A process of the test's own holding the conf dir's lock (one process: SIGKILL releases it); resolves once it holds it. */
export async function holdLock(confDir: string): Promise<Bun.Subprocess<"ignore", "pipe", "inherit">> {
  const holder = Bun.spawn(
    [
      "python3",
      "-c",
      "import fcntl,os,sys,time; f=os.open(sys.argv[1], os.O_RDONLY); fcntl.flock(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(30)",
      confDir,
    ],
    { stdin: "ignore", stdout: "pipe" },
  );
  cleanups.push(() => holder.kill("SIGKILL"));
  const reader = holder.stdout.getReader();
  await reader.read();
  reader.releaseLock();
  return holder;
}
