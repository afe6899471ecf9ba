import { connect } from "node:net";

// Whether the open Spamhaus lists may be used: mailcow's service answers 200 when this host's
// network (AS) is not on Spamhaus's banned list and 503 when it is. Anything else (timeout,
// DNS failure, another status) means we cannot tell, and the safe answer is "no Spamhaus".

export type AsnVerdict = { kind: "not-listed" } | { kind: "listed" } | { kind: "unknown"; reason: string };

export interface AsnCheckOptions {
  connectTimeoutMs?: number;
  totalTimeoutMs?: number;
  signal?: AbortSignal;
}

export async function checkAsn(url: string, options: AsnCheckOptions = {}): Promise<AsnVerdict> {
  const connectTimeoutMs = options.connectTimeoutMs ?? 15_000;
  const totalTimeoutMs = options.totalTimeoutMs ?? 30_000;
  const started = Date.now();
  const total = AbortSignal.timeout(totalTimeoutMs);
  const signal = options.signal ? AbortSignal.any([total, options.signal]) : total;
  try {
    const target = new URL(url);
    // fetch has no separate connect timeout (curl's --connect-timeout): probe the TCP connect first.
    await tcpConnect(target.hostname, Number(target.port || (target.protocol === "https:" ? 443 : 80)), connectTimeoutMs);
    const response = await fetch(url, { signal, redirect: "manual" });
    await response.body?.cancel();
    if (response.status === 200) return { kind: "not-listed" };
    if (response.status === 503) return { kind: "listed" };
    return { kind: "unknown", reason: `${url} answered HTTP ${response.status}` };
  } catch (error) {
    const timedOut = total.aborted || (error as Error).name === "TimeoutError";
    const reason = timedOut
      ? `no answer from ${url} within ${Math.round((Date.now() - started) / 1000)}s`
      : `${url}: ${(error as Error).message}`;
    return { kind: "unknown", reason };
  }
}

function tcpConnect(host: string, port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connect to ${host}:${port} timed out after ${timeoutMs / 1000}s`));
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    });
    socket.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}
