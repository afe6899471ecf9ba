import { Resolver } from "node:dns/promises";
import { errnoCode } from "../errors.ts";

// The DNS check: a real query through the configured resolver (like mailcow's `dig`), never
// /etc/hosts. What we wait for is the resolver answering at all, as `dig +short mailcow.email`
// does in mailcow's script (dig exits 0 on any response): NOERROR, NXDOMAIN, SERVFAIL, REFUSED,
// FORMERR, NOTIMP all end the wait, so an upstream DNS problem does not keep Postfix down. Only
// no answer (timeout, unreachable resolver) keeps waiting.

/** c-ares codes for a response that came back, whatever its RCODE. */
const ANSWERED = new Set(["ENOTFOUND", "ENODATA", "ESERVFAIL", "EREFUSED", "EFORMERR", "ENOTIMP"]);

/**
 * One query for `name`. `server` (HOST or HOST:PORT) overrides /etc/resolv.conf, for tests
 * and for containers whose resolver is elsewhere.
 */
export async function probeDns(name: string, server: string | undefined, signal: AbortSignal): Promise<void> {
  const resolver = new Resolver({ timeout: 2_000, tries: 1 });
  if (server) resolver.setServers([server]);
  const cancel = () => resolver.cancel();
  signal.addEventListener("abort", cancel, { once: true });
  try {
    await resolver.resolve4(name);
  } catch (error) {
    const code = errnoCode(error) ?? "";
    if (ANSWERED.has(code)) return;
    throw new Error(`DNS query for ${name}${server ? ` via ${server}` : ""} failed: ${code || (error as Error).message}`);
  } finally {
    signal.removeEventListener("abort", cancel);
  }
}
