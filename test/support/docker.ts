import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, openSync, closeSync } from "node:fs";
import { join } from "node:path";

// A private Docker engine for the container tests: Debian's dockerd started by the test run
// itself with its own data root, exec root and socket, no bridge and no firewall changes, and
// torn down again (containers, daemon by PID, leftover mounts) whatever happened.

/** Debian's client: it speaks the API of Debian's dockerd and has BuildKit when asked. */
export const DOCKER = process.env.MPI_DOCKER_CLIENT ?? "/usr/bin/docker";
export const DOCKERD = process.env.MPI_DOCKERD ?? "/usr/sbin/dockerd";
/**
 * A private DOCKER_CONFIG holding the Compose v2 and buildx CLI plugins (Debian trixie's, put
 * there by test/support/ensure-compose-v2.sh): `docker compose` and BuildKit, as admins run them.
 */
export const DOCKER_CONFIG_DIR = process.env.MPI_DOCKER_CONFIG ?? "/var/tmp/mpi-docker-config";

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  stdin?: string | Uint8Array;
  timeoutMs?: number;
  /** Return the result instead of throwing on a non-zero exit. */
  allowFailure?: boolean;
}

/** Error with the command, its exit status and the tail of its output. */
export class CommandFailed extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly result: RunResult,
  ) {
    const tail = (result.stderr.trim() || result.stdout.trim()).split("\n").slice(-25).join("\n");
    super(`\`${argv.join(" ")}\` exited ${result.exitCode} after ${result.durationMs} ms:\n${tail}`);
  }
}

/** Run argv (never a shell string), collect output, throw CommandFailed unless allowed. */
export async function run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const started = performance.now();
  const child = Bun.spawn([...argv], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env } as Record<string, string>,
    stdin: options.stdin === undefined ? "ignore" : new Blob([options.stdin]),
    stdout: "pipe",
    stderr: "pipe",
    timeout: options.timeoutMs,
    killSignal: "SIGKILL",
  });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  const result = { exitCode, stdout, stderr, durationMs: Math.round(performance.now() - started) };
  if (exitCode !== 0 && !options.allowFailure) throw new CommandFailed(argv, result);
  return result;
}

export interface Engine {
  root: string;
  host: string;
  pid: number;
  /** Environment for docker, docker-compose and children: points them at this engine only. */
  env: Record<string, string>;
  docker(args: readonly string[], options?: RunOptions): Promise<RunResult>;
}

const liveEngines = new Set<number>();
process.on("exit", () => {
  // Last resort if the run dies before afterAll: never leave a daemon behind.
  for (const pid of liveEngines) {
    try {
      process.kill(pid, "SIGTERM");
    } catch {}
  }
});

/**
 * Start dockerd under ROOT (a fresh temp dir unless MPI_CONTAINER_ROOT names one to reuse
 * between development runs) and wait until it answers.
 */
export async function startEngine(): Promise<Engine> {
  for (const plugin of ["docker-compose", "docker-buildx"]) {
    if (!existsSync(join(DOCKER_CONFIG_DIR, "cli-plugins", plugin))) {
      throw new Error(`${plugin} CLI plugin missing in ${DOCKER_CONFIG_DIR}/cli-plugins: run test/support/ensure-compose-v2.sh as root`);
    }
  }
  const root = process.env.MPI_CONTAINER_ROOT ?? mkdtempSync("/var/tmp/mpi-container-");
  for (const dir of ["data", "exec"]) mkdirSync(join(root, dir), { recursive: true });
  const socket = join(root, "docker.sock");
  const pidfile = join(root, "dockerd.pid");
  if (existsSync(pidfile)) {
    const stale = Number(readFileSync(pidfile, "utf8"));
    if (stale > 0 && isAlive(stale)) throw new Error(`dockerd already running for ${root} (PID ${stale})`);
  }
  const log = openSync(join(root, "dockerd.log"), "a");
  const daemon = Bun.spawn(
    [
      DOCKERD,
      `--data-root=${join(root, "data")}`,
      `--exec-root=${join(root, "exec")}`,
      `--host=unix://${socket}`,
      `--pidfile=${pidfile}`,
      "--bridge=none",
      "--iptables=false",
      "--ip6tables=false",
      "--ip-forward=false",
      "--ip-masq=false",
      "--storage-driver=overlay2",
      // Own namespaces too, in case dockerd attaches to a system containerd instead of its own.
      "--containerd-namespace=mpi-test",
      "--containerd-plugins-namespace=mpi-test-plugins",
    ],
    { stdin: "ignore", stdout: log, stderr: log },
  );
  closeSync(log);
  liveEngines.add(daemon.pid);
  const host = `unix://${socket}`;
  const env = { DOCKER_HOST: host, DOCKER_CONFIG: DOCKER_CONFIG_DIR, DOCKER_BUILDKIT: "1" };
  const engine: Engine = {
    root,
    host,
    pid: daemon.pid,
    env,
    docker: (args, options = {}) => run([DOCKER, ...args], { ...options, env: { ...env, ...options.env } }),
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    const probe = await engine.docker(["version", "--format", "{{.Server.Version}}"], { allowFailure: true });
    if (probe.exitCode === 0) break;
    if (daemon.exitCode !== null || Date.now() > deadline) {
      await stopEngine(engine);
      const tail = readFileSync(join(root, "dockerd.log"), "utf8").split("\n").slice(-20).join("\n");
      throw new Error(`dockerd did not come up (exit ${daemon.exitCode}); log tail:\n${tail}`);
    }
    await Bun.sleep(250);
  }
  return engine;
}

/** Remove every container, stop the daemon by its PID, unmount what it left, drop the root. */
export async function stopEngine(engine: Engine): Promise<void> {
  if (isAlive(engine.pid)) {
    const ids = await engine.docker(["ps", "-aq"], { allowFailure: true, timeoutMs: 30_000 });
    const list = ids.stdout.split("\n").filter(Boolean);
    if (list.length > 0) await engine.docker(["rm", "-f", "-v", ...list], { allowFailure: true, timeoutMs: 60_000 });
    process.kill(engine.pid, "SIGTERM");
    const deadline = Date.now() + 20_000;
    while (isAlive(engine.pid) && Date.now() < deadline) await Bun.sleep(100);
    if (isAlive(engine.pid)) process.kill(engine.pid, "SIGKILL");
  }
  liveEngines.delete(engine.pid);
  await unmountUnder(engine.root);
  if (!process.env.MPI_CONTAINER_ROOT && !process.env.MPI_CONTAINER_KEEP) {
    rmSync(engine.root, { recursive: true, force: true });
  }
}

/** Lazily unmount anything still mounted below DIR (netns files, overlay layers), deepest first. */
async function unmountUnder(dir: string): Promise<void> {
  const mounts = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[4] ?? "")
    .filter((point) => point === dir || point.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const point of mounts) await run(["umount", "-l", point], { allowFailure: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}
