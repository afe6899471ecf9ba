import { X509Certificate } from "node:crypto";
import { readFileSync, readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";

// Private mount, PID and network namespaces (unshare) laid out like mailcow's Postfix
// container: loopback up, /etc as a throwaway overlay with resolv.conf bind-mounted to the
// test's resolver (dnsmasq on 127.0.0.1:53 inside), container paths bind-mounted from ROOT.
// The namespace's PID 1 is a bash loop that reaps orphans; killing it ends everything inside.

export interface ContainerNamespace {
  /** Host PID of the namespace's init. */
  initPid: number;
  /** Run a command inside (mount + net namespaces; PID namespace too with `pid: true`). */
  exec(
    argv: string[],
    options?: { pid?: boolean; env?: Record<string, string>; stdin?: string; timeoutMs?: number },
  ): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  /** Start a long-running command inside the PID namespace; `pid` is its host PID. */
  spawn(
    argv: string[],
    env: Record<string, string>,
    onOutput?: (text: string) => void,
  ): Promise<{ pid: number; exited: Promise<number>; output(): string }>;
  /** Host PIDs of live (non-zombie) processes inside, with their command names. */
  processes(): { pid: number; comm: string }[];
  stop(): Promise<void>;
}

/**
 * `keepEtc`: /etc's overlay keeps its changes in ROOT/overlay on disk, so the next namespace on
 * the same ROOT finds them (as a container's writable layer survives `docker restart`);
 * otherwise they are thrown away with the namespace (a container created anew).
 */
export async function startContainerNamespace(root: string, options: { keepEtc?: boolean } = {}): Promise<ContainerNamespace> {
  const setup = [
    "set -e",
    "ip link set lo up",
    // Postfix logs through postlogd (maillog_file) on a unix datagram socket; a lived-in config
    // makes every daemon print its configuration warnings at start, and with the default queue
    // of 10 datagrams postlogd's own start-up warnings can block behind them (measured: restarts
    // stalled with postscreen blocked in sendmsg). Per network namespace: the host is untouched.
    "sysctl -q -w net.unix.max_dgram_qlen=4096",
    ...(options.keepEtc ? [] : [`mount -t tmpfs tmpfs "$ROOT/overlay"`]),
    `mkdir -p "$ROOT/overlay/upper" "$ROOT/overlay/work"`,
    `mount -t overlay overlay -o "lowerdir=/etc,upperdir=$ROOT/overlay/upper,workdir=$ROOT/overlay/work" /etc`,
    `mount --bind "$ROOT/resolv.conf" /etc/resolv.conf`,
    "mkdir -p /etc/ssl/mail",
    `mount --bind "$ROOT/etc/ssl/mail" /etc/ssl/mail`,
    "mount -t tmpfs tmpfs /opt",
    "mkdir -p /opt/postfix/conf",
    `mount --bind "$ROOT/opt/postfix/conf" /opt/postfix/conf`,
    `mount --bind "$ROOT/var/spool/postfix" /var/spool/postfix`,
    `mount --bind "$ROOT/var/lib/postfix" /var/lib/postfix`,
    "mount -t tmpfs tmpfs /run",
    "mkdir -p /run/mysqld",
    `mount --bind "$ROOT/var/run/mysqld" /run/mysqld`,
    "dnsmasq --port=53 --listen-address=127.0.0.1 --bind-interfaces --no-resolv --no-hosts --conf-file=/dev/null --user=root --pid-file= --address=/mailcow.email/127.0.0.1",
    "echo ready",
    // PID 1: wait reaps every child, orphans re-parented to us included.
    "trap : TERM INT",
    "while :; do sleep 1 & wait $! || :; done",
  ].join("\n");
  Bun.spawnSync(["mkdir", "-p", join(root, "overlay")]);
  await Bun.write(join(root, "resolv.conf"), "nameserver 127.0.0.1\n");
  const unshare = Bun.spawn(
    ["unshare", "--mount", "--pid", "--net", "--fork", "--mount-proc", "--propagation", "private", "bash", "-c", setup],
    {
      env: { ROOT: root, PATH: process.env.PATH! },
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  const reader = unshare.stdout.getReader();
  const first = await Promise.race([reader.read(), Bun.sleep(10_000).then(() => undefined)]);
  if (!first || first.done || !new TextDecoder().decode(first.value).includes("ready")) {
    unshare.kill("SIGKILL");
    throw new Error(`namespace setup failed: ${await new Response(unshare.stderr).text()}`);
  }
  reader.releaseLock();
  const initPid = childOf(unshare.pid);
  const pidNamespace = readlinkSync(`/proc/${initPid}/ns/pid_for_children`);
  const enter = (pid: boolean) => ["nsenter", `--target=${initPid}`, "--mount", "--net", ...(pid ? ["--pid"] : []), "--"];

  return {
    initPid,
    async exec(argv, options = {}) {
      const proc = Bun.spawn([...enter(options.pid ?? false), ...argv], {
        env: options.env ?? { PATH: process.env.PATH! },
        stdin: options.stdin === undefined ? "ignore" : Buffer.from(options.stdin),
        stdout: "pipe",
        stderr: "pipe",
      });
      const timer = setTimeout(() => proc.kill("SIGKILL"), options.timeoutMs ?? 15_000);
      const [stdout, stderr, exitCode] = await Promise.all([
        new Response(proc.stdout).text(),
        new Response(proc.stderr).text(),
        proc.exited,
      ]);
      clearTimeout(timer);
      return { exitCode, stdout, stderr };
    },
    async spawn(argv, env, onOutput) {
      const proc = Bun.spawn([...enter(true), ...argv], { env, stdout: "pipe", stderr: "pipe" });
      let output = "";
      const collect = async (stream: ReadableStream<Uint8Array>) => {
        for await (const chunk of stream) {
          const text = new TextDecoder().decode(chunk);
          output += text;
          onOutput?.(text);
        }
      };
      void collect(proc.stdout);
      void collect(proc.stderr);
      // nsenter forks into the PID namespace; the command is its only child.
      let pid = 0;
      for (let attempt = 0; attempt < 200 && !pid; attempt++) {
        try {
          pid = childOf(proc.pid);
        } catch {
          await Bun.sleep(10);
        }
      }
      if (!pid) throw new Error(`no child of nsenter ${proc.pid}: ${output}`);
      return { pid, exited: proc.exited, output: () => output };
    },
    processes() {
      const found: { pid: number; comm: string }[] = [];
      for (const entry of readdirSync("/proc")) {
        if (!/^\d+$/.test(entry)) continue;
        try {
          if (readlinkSync(`/proc/${entry}/ns/pid`) !== pidNamespace) continue;
          const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
          if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue;
          found.push({ pid: Number(entry), comm: readFileSync(`/proc/${entry}/comm`, "utf8").trim() });
        } catch {
          // exited while we looked
        }
      }
      return found;
    },
    async stop() {
      // SIGKILL to a PID namespace's init kills every process in it.
      process.kill(initPid, "SIGKILL");
      await unshare.exited;
    },
  };
}

export function childOf(pid: number): number {
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
  if (children.length !== 1) throw new Error(`expected one child of ${pid}, found [${children.join(" ")}]`);
  return Number(children[0]);
}

/** The leaf certificate served for `serverName` after STARTTLS, from inside the namespace. */
export async function servedCertificateInside(ns: ContainerNamespace, port: number, serverName: string): Promise<string> {
  const result = await ns.exec(["openssl", "s_client", "-starttls", "smtp", "-connect", `127.0.0.1:${port}`, "-servername", serverName], {
    stdin: "QUIT\r\n",
  });
  const pem = result.stdout.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/)?.[0];
  if (!pem) throw new Error(`no certificate for SNI ${serverName}: ${result.stderr.slice(-400)}`);
  return new X509Certificate(pem).fingerprint256;
}

/** Wait for a 220 banner on 127.0.0.1:PORT inside the namespace. */
export async function waitForBannerInside(ns: ContainerNamespace, port: number, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    const result = await ns.exec(["bash", "-c", `exec 3<>/dev/tcp/127.0.0.1/${port} && head -n1 <&3`], { timeoutMs: 3_000 });
    if (result.stdout.startsWith("220")) return result.stdout.trim();
    last = result.stderr.trim() || result.stdout.trim();
    await Bun.sleep(50);
  }
  throw new Error(`no SMTP banner on port ${port} within ${timeoutMs} ms (${last})`);
}

/** Whether anything listens on TCP PORT inside the namespace. */
export async function isListeningInside(ns: ContainerNamespace, port: number): Promise<boolean> {
  const result = await ns.exec(["ss", "-Hltn", `sport = :${port}`]);
  return result.stdout.trim() !== "";
}
