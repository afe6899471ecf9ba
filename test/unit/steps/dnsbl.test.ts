import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createMemoryLogger } from "../../../src/log.ts";
import { checkAsn, type AsnVerdict } from "../../../src/steps/asn-check.ts";
import type { StepContext } from "../../../src/steps/context.ts";
import { testTools } from "../../support/postfix-tools.ts";
import { activeLines, prepareDnsbl, removeDiscontinued, spamhausLines } from "../../../src/steps/dnsbl.ts";
import { extractTemplates } from "../../../src/templates/extract.ts";
import { startAsnServer } from "../../support/http.ts";
import { FIXTURE_SCRIPT } from "../../support/namespace-root.ts";
import { makeTempDir } from "../../support/tmp.ts";

const templates = extractTemplates(readFileSync(FIXTURE_SCRIPT, "utf8"), FIXTURE_SCRIPT);
const cleanups: (() => void)[] = [];
afterAll(() => {
  for (const cleanup of cleanups) cleanup();
});

function context(spamhausDqsKey?: string) {
  const temp = makeTempDir("mpi-dnsbl-");
  cleanups.push(temp.cleanup);
  const log = createMemoryLogger();
  const step: StepContext = {
    paths: { confDir: temp.path, sslDir: "", spoolDir: "", mysqlSocket: "", aliasesFile: "" },
    env: { dbName: "d", dbUser: "u", dbPass: "p", hostname: "m.example", spamhausDqsKey },
    templates,
    log,
    tools: testTools(),
  };
  return { step, log, dir: temp.path };
}

const never = async (): Promise<AsnVerdict> => {
  throw new Error("the ASN check must not run here");
};

describe("pure parts", () => {
  test("discontinued lists are removed, the rest kept byte for byte", () => {
    const text = "# c\npostscreen_dnsbl_sites = a*1\n  retired.fixture.test*2\n  gone.fixture.test=127.0.0.2*3\n  b*1\n";
    expect(removeDiscontinued(text, templates.discontinuedDnsbl)).toBe("# c\npostscreen_dnsbl_sites = a*1\n  b*1\n");
    expect(removeDiscontinued("x\n", templates.discontinuedDnsbl)).toBe("x\n");
    // A discontinued list on the last line, without a newline after it, goes too.
    expect(removeDiscontinued("a*1\n  gone.fixture.test*1", templates.discontinuedDnsbl)).toBe("a*1");
  });

  test("no ASN verdict at all: no Spamhaus lists, and the line says it was not checked", () => {
    expect(spamhausLines(templates, undefined, undefined)).toEqual({
      lines: "",
      why: "no Spamhaus lists: could not check this network's AS (not checked); set SPAMHAUS_DQS_KEY to use them",
    });
  });

  test("active lines: not starting with #, not blank", () => {
    expect(activeLines("# c\n\n  \npostscreen_dnsbl_sites = a\n  # indented stays\n  b\n")).toBe(
      "postscreen_dnsbl_sites = a\n  # indented stays\n  b",
    );
  });
});

describe("prepareDnsbl", () => {
  test("creates dns_blocklists.cf from the template, without discontinued lists", async () => {
    const { step, dir, log } = context();
    const lines = await prepareDnsbl(step, async () => ({ kind: "not-listed" }));
    const file = readFileSync(join(dir, "dns_blocklists.cf"), "utf8");
    expect(file).toStartWith("# fixture blocklists");
    expect(file).not.toContain("retired.fixture.test");
    expect(statSync(join(dir, "dns_blocklists.cf")).mode & 0o777).toBe(0o644);
    expect(lines.sites).toBe(activeLines(file));
    expect(lines.spamhaus).toBe("  open.fixture.test=127.0.0.[2..3]*5\n  open.fixture.test=127.0.0.9*7");
    expect(log.lines).toEqual([
      `mailcow-postfix-init: creating ${join(dir, "dns_blocklists.cf")} with mailcow's default blocklists`,
      "mailcow-postfix-init: using the open Spamhaus lists: this network's AS is not on Spamhaus's banned list",
    ]);
  });

  test("an admin's edited file is kept; only discontinued lines go", async () => {
    const { step, dir, log } = context();
    writeFileSync(join(dir, "dns_blocklists.cf"), "# mine\npostscreen_dnsbl_sites = mine.test*3\n  gone.fixture.test*1\n", { mode: 0o600 });
    const lines = await prepareDnsbl(step, async () => ({ kind: "listed" }));
    expect(readFileSync(join(dir, "dns_blocklists.cf"), "utf8")).toBe("# mine\npostscreen_dnsbl_sites = mine.test*3\n");
    expect(statSync(join(dir, "dns_blocklists.cf")).mode & 0o777).toBe(0o600);
    expect(lines).toEqual({ sites: "postscreen_dnsbl_sites = mine.test*3", spamhaus: "" });
    expect(log.lines[0]).toBe(`mailcow-postfix-init: removed discontinued blocklists from ${join(dir, "dns_blocklists.cf")}`);
    // Nothing discontinued left: nothing said about the file.
    const again = createMemoryLogger();
    await prepareDnsbl({ ...step, log: again }, async () => ({ kind: "listed" }));
    expect(again.lines).toEqual([
      "mailcow-postfix-init: no Spamhaus lists: this network's AS is banned by Spamhaus and SPAMHAUS_DQS_KEY is not set",
    ]);
  });

  test("a DQS key: keyed lists and dnsbl_reply.map, no ASN check", async () => {
    const { step, dir, log } = context("abc123");
    const lines = await prepareDnsbl(step, never);
    expect(lines.spamhaus).toContain("abc123.keyed.fixture.test=127.0.0.[2..3]*5");
    expect(readFileSync(join(dir, "dnsbl_reply.map"), "utf8")).toBe(
      "# fixture reply names\nabc123.keyed.fixture.test     keyed.fixture.test\n",
    );
    expect(log.lines.join("\n")).toContain("Spamhaus DQS");
  });

  test("without a key a stale dnsbl_reply.map is removed", async () => {
    const { step, dir } = context();
    writeFileSync(join(dir, "dnsbl_reply.map"), "old\n");
    await prepareDnsbl(step, async () => ({ kind: "unknown", reason: "x" }));
    expect(existsSync(join(dir, "dnsbl_reply.map"))).toBe(false);
  });

  test("no active blocklists: nothing for main.cf and no ASN check", async () => {
    const { step, dir, log } = context();
    writeFileSync(join(dir, "dns_blocklists.cf"), "# all off\n\n");
    expect(await prepareDnsbl(step, never)).toEqual({ sites: "", spamhaus: "" });
    expect(log.lines).toEqual([
      `mailcow-postfix-init: no active blocklists in ${join(dir, "dns_blocklists.cf")}; postscreen DNSBL checks stay off`,
    ]);
  });

  test("ASN check verdicts, each with a log line saying why", async () => {
    for (const [verdict, spamhaus, why] of [
      [{ kind: "listed" }, "", "banned by Spamhaus"],
      [{ kind: "unknown", reason: "no answer from x within 30s" }, "", "could not check this network's AS (no answer from x within 30s)"],
    ] as const) {
      const { step, log } = context();
      expect((await prepareDnsbl(step, async () => verdict)).spamhaus).toBe(spamhaus);
      expect(log.lines.join("\n")).toContain(why);
    }
  });
});

describe("checkAsn against a local server", () => {
  test("200, 503 and other statuses", async () => {
    for (const [status, kind] of [
      [200, "not-listed"],
      [503, "listed"],
      [500, "unknown"],
      [302, "unknown"],
    ] as const) {
      const server = startAsnServer({ status });
      try {
        const verdict = await checkAsn(server.url);
        expect(verdict.kind).toBe(kind);
        if (verdict.kind === "unknown") expect(verdict.reason).toContain(`HTTP ${status}`);
      } finally {
        server.stop();
      }
    }
  });

  test("a server that never answers hits the total timeout", async () => {
    const server = startAsnServer("hang");
    try {
      const started = Date.now();
      const verdict = await checkAsn(server.url, { totalTimeoutMs: 300 });
      expect(verdict).toEqual({ kind: "unknown", reason: expect.stringContaining("no answer from") });
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      server.stop();
    }
  });

  test("nothing listening: unknown, with the reason", async () => {
    const server = startAsnServer({ status: 200 });
    const url = server.url;
    server.stop();
    const verdict = await checkAsn(url);
    expect(verdict.kind).toBe("unknown");
  });
});
