import { execa, type ResultPromise } from "execa";
import { createSocket } from "node:dgram";

// dnsmasq on loopback answering the probe name, and a UDP socket that swallows queries
// (a resolver that never answers). Both stopped by their own handles.

export interface TestDnsServer {
  address: string;
  stop(): Promise<void>;
}

/** A free UDP port on 127.0.0.1 (bound and released; good enough for a test). */
export async function freeUdpPort(): Promise<number> {
  const socket = createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  const port = socket.address().port;
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/** dnsmasq answering `names` with 127.0.0.1 and `nxdomain` names with NXDOMAIN; the rest REFUSED. */
export async function startDnsmasq(options: { port?: number; names?: string[]; nxdomain?: string[] } = {}): Promise<TestDnsServer> {
  const port = options.port ?? (await freeUdpPort());
  const names = options.names ?? ["mailcow.email"];
  const server: ResultPromise = execa("dnsmasq", [
    "--no-daemon", "--keep-in-foreground", `--port=${port}`, "--listen-address=127.0.0.1", "--bind-interfaces",
    "--no-resolv", "--no-hosts", "--conf-file=/dev/null", "--user=root", "--pid-file=",
    ...names.map((name) => `--address=/${name}/127.0.0.1`),
    ...(options.nxdomain ?? []).map((name) => `--address=/${name}/`),
  ], { stdin: "ignore", reject: false });
  let exited = false;
  void server.then(() => {
    exited = true;
  });
  // Ready when it answers.
  const deadline = Date.now() + 5_000;
  for (;;) {
    const dig = await execa("dig", ["+short", "+time=1", "+tries=1", "-p", String(port), "@127.0.0.1", names[0]!], { reject: false });
    if (dig.exitCode === 0 && dig.stdout.trim() !== "") break;
    if (exited || Date.now() > deadline) {
      server.kill("SIGKILL");
      throw new Error(`dnsmasq did not answer on port ${port}: ${dig.stdout}${dig.stderr}`);
    }
    await Bun.sleep(50);
  }
  return {
    address: `127.0.0.1:${port}`,
    async stop() {
      server.kill("SIGTERM");
      await server;
    },
  };
}

/** Receives DNS queries and never answers. */
export async function startSilentDns(): Promise<TestDnsServer> {
  const socket = createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  return {
    address: `127.0.0.1:${socket.address().port}`,
    stop: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
