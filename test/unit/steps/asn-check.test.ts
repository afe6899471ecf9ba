import { expect, test } from "bun:test";
import { checkAsn } from "../../../src/steps/asn-check.ts";
import { startAsnServer } from "../../support/http.ts";

// docs/start.md, Spamhaus: whether the open lists may be used is asked of mailcow's service;
// anything but 200 or 503 is "cannot tell", with a reason the log line shows. Local servers
// only (dnsbl.test.ts has the statuses).

test("an answer without a body (204) is another status, not a failure of the check", async () => {
  const server = startAsnServer({ status: 204 });
  try {
    expect(await checkAsn(server.url)).toEqual({ kind: "unknown", reason: `${server.url} answered HTTP 204` });
  } finally {
    server.stop();
  }
});

test("no answer within the total time: the reason says how long it waited, in whole seconds", async () => {
  const server = startAsnServer("hang");
  try {
    expect(await checkAsn(server.url, { totalTimeoutMs: 700 })).toEqual({
      kind: "unknown",
      reason: `no answer from ${server.url} within 1s`,
    });
    // The caller's own timeout (the start's deadline) reads the same.
    expect(await checkAsn(server.url, { signal: AbortSignal.timeout(1_000) })).toEqual({
      kind: "unknown",
      reason: `no answer from ${server.url} within 1s`,
    });
  } finally {
    server.stop();
  }
});

test("the start stopping (its signal aborted) ends the check at once, as unknown", async () => {
  const server = startAsnServer("hang");
  try {
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 200);
    const since = Date.now();
    const verdict = await checkAsn(server.url, { signal: stop.signal });
    expect(Date.now() - since).toBeLessThan(3_000);
    expect(verdict).toEqual({ kind: "unknown", reason: expect.stringMatching(new RegExp(`^${server.url}: `)) });
  } finally {
    server.stop();
  }
});

test("nothing listening: refused at once, the reason names the address; without a port, http is port 80 and https 443", async () => {
  const server = startAsnServer({ status: 200 });
  const url = server.url;
  server.stop();
  const since = Date.now();
  const verdict = await checkAsn(url, { connectTimeoutMs: 10_000 });
  expect(Date.now() - since).toBeLessThan(5_000);
  expect(verdict).toEqual({ kind: "unknown", reason: expect.stringMatching(new RegExp(`^${url}: .*ECONNREFUSED`)) });
  // Nothing listens on loopback's 80 and 443 here.
  expect(await checkAsn("http://127.0.0.1/asn")).toEqual({ kind: "unknown", reason: expect.stringContaining("127.0.0.1:80") });
  expect(await checkAsn("https://127.0.0.1/asn")).toEqual({ kind: "unknown", reason: expect.stringContaining("127.0.0.1:443") });
});
