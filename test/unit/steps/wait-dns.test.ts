import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createMemoryLogger } from "../../../src/log.ts";
import { waitUntilReady } from "../../../src/steps/wait.ts";
import { probeDns } from "../../../src/steps/wait-dns.ts";
import { RCODE, startDnsmasq, startRcodeDns, startSilentDns, type TestDnsServer } from "../../support/dns.ts";

const neverAborted = new AbortController().signal;

describe("DNS probe", () => {
  let dns: TestDnsServer;
  let silent: TestDnsServer;
  beforeAll(async () => {
    [dns, silent] = await Promise.all([startDnsmasq({ nxdomain: ["nonexistent.invalid"] }), startSilentDns()]);
  });
  afterAll(async () => {
    await Promise.all([dns?.stop(), silent?.stop()]);
  });

  test("a resolver that answers (also NXDOMAIN) is ready", async () => {
    await probeDns("mailcow.email", dns.address, neverAborted);
    await probeDns("nonexistent.invalid", dns.address, neverAborted);
  });

  test("a resolver that answers with an error (SERVFAIL, REFUSED, FORMERR, NOTIMP) is ready, as for `dig +short`", async () => {
    // dnsmasq refuses names it has no data for.
    await probeDns("other.example", dns.address, neverAborted);
    for (const [name, rcode] of Object.entries(RCODE)) {
      const server = await startRcodeDns(rcode);
      try {
        const log = createMemoryLogger();
        const started = Date.now();
        await waitUntilReady({
          what: "DNS (mailcow.email)",
          log,
          signal: neverAborted,
          retryMs: 100,
          timeoutMs: 5_000,
          probe: (signal) => probeDns("mailcow.email", server.address, signal),
        });
        expect({ name, lines: log.lines, queries: server.queries() }).toEqual({ name, lines: [], queries: 1 });
        expect(Date.now() - started).toBeLessThan(1_000);
      } finally {
        await server.stop();
      }
    }
  });

  test("a resolver that never answers keeps the wait going, with the progress line", async () => {
    let clock = 0;
    const log = createMemoryLogger();
    const wait = waitUntilReady({
      what: "DNS (mailcow.email)",
      log,
      signal: neverAborted,
      retryMs: 0,
      timeoutMs: 15_000,
      now: () => clock,
      probe: async (signal) => {
        clock += 5_000;
        await probeDns("mailcow.email", silent.address, signal);
      },
    });
    expect(wait).rejects.toThrow("gave up waiting for DNS (mailcow.email) after 15.0s");
    await wait.catch(() => {});
    const failure = `DNS query for mailcow.email via ${silent.address} failed: ETIMEOUT`;
    expect(log.lines).toEqual([
      `mailcow-postfix-init: waiting for DNS (mailcow.email): ${failure}`,
      `mailcow-postfix-init: still waiting for DNS (mailcow.email) (10.0s elapsed): ${failure}`,
    ]);
  }, 20_000);

  test("a resolver that never answers, with a timeout set: gives up at the timeout (within 1 s), with the reason", async () => {
    const started = Date.now();
    const wait = waitUntilReady({
      what: "DNS (mailcow.email)",
      log: createMemoryLogger(),
      signal: neverAborted,
      retryMs: 100,
      timeoutMs: 500,
      probe: (signal) => probeDns("mailcow.email", silent.address, signal),
    });
    expect(wait).rejects.toThrow(
      "gave up waiting for DNS (mailcow.email) after 0.5s (timeout 0.5s); last error: no answer before the timeout",
    );
    await wait.catch(() => {});
    expect(Date.now() - started).toBeLessThan(1_500);
  });
});
