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
  const server: ResultPromise = execa(
    "dnsmasq",
    [
      "--no-daemon",
      "--keep-in-foreground",
      `--port=${port}`,
      "--listen-address=127.0.0.1",
      "--bind-interfaces",
      "--no-resolv",
      "--no-hosts",
      "--conf-file=/dev/null",
      "--user=root",
      "--pid-file=",
      ...names.map((name) => `--address=/${name}/127.0.0.1`),
      ...(options.nxdomain ?? []).map((name) => `--address=/${name}/`),
    ],
    { stdin: "ignore", reject: false },
  );
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

/** DNS response codes a resolver may answer with (RFC 1035, 4.1.1). */
export const RCODE = { FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

/**
 * A resolver that answers every query with `rcode` and no records: the query's ID and question
 * sent back with QR set, as a broken upstream or a refusing server does.
 */
export async function startRcodeDns(rcode: number): Promise<TestDnsServer & { queries(): number }> {
  const socket = createSocket("udp4");
  let queries = 0;
  socket.on("message", (query, peer) => {
    if (query.length < 12) return;
    queries++;
    const answer = Buffer.from(query);
    answer[2] = 0x80 | (query[2]! & 0x79); // QR, the query's opcode and RD
    answer[3] = 0x80 | (rcode & 0x0f); // RA, RCODE
    answer.writeUInt16BE(0, 6); // no answer, authority or additional records
    answer.writeUInt16BE(0, 8);
    answer.writeUInt16BE(0, 10);
    const questionEnd = endOfQuestion(answer);
    socket.send(answer.subarray(0, questionEnd), peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  return {
    address: `127.0.0.1:${socket.address().port}`,
    queries: () => queries,
    stop: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

/** Offset after the first question (name, type, class) of a DNS message; the whole message if malformed. */
function endOfQuestion(message: Buffer): number {
  let offset = 12;
  while (offset < message.length && message[offset] !== 0) offset += message[offset]! + 1;
  return Math.min(offset + 5, message.length);
}
