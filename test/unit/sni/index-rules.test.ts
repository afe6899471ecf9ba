import { expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { UserError } from "../../../src/errors.ts";
import type { Logger } from "../../../src/log.ts";
import { embeddedValueDigests, type SniMapResult, logNotes, logProblems, mapKeyForHostname, summarize } from "../../../src/sni/index.ts";
import { embeddedValue } from "../../../src/sni/embedded.ts";
import type { MapEntry, Problem } from "../../../src/sni/types.ts";

// The engine's words and keys, on results held in memory: docs/map-rules.md's summary line,
// the hostname check that runs before any work, the digests that say which values a table
// embeds, and how problems reach the log.

const entry = (name: string, sourceDir: string, value: Uint8Array): MapEntry => ({
  name,
  sourceDir,
  files: [`${sourceDir}/key.pem`, `${sourceDir}/cert.pem`],
  value: embeddedValue(value),
});
const problem = (severity: Problem["severity"]): Problem => ({ severity, code: "x", source: "/ssl", message: `${severity} line` });
const result = (entries: MapEntry[], problems: Problem[] = []): SniMapResult => ({
  sslDir: "/ssl",
  discovery: { sslDir: "/ssl", sources: [], problems: [], notes: [], observed: {} },
  content: "",
  entries,
  sources: [],
  problems,
  notes: [],
});
const value = new Uint8Array([1]);

test("the summary line: names by origin, errors and warnings, singular and plural", () => {
  const entries = [
    entry("mail.example.test", "/ssl", value),
    entry("example.test", "/ssl", value),
    entry("a.test", "/ssl/a", value),
    entry("www.a.test", "/ssl/a", value),
    entry("b.test", "/ssl/b", value),
  ];
  expect(summarize(result(entries, [problem("error"), problem("warning"), problem("warning")]))).toBe(
    "5 names mapped (2 from the default certificate, 3 from 2 directories); 1 error, 2 warnings",
  );
  expect(summarize(result([entry("a.test", "/ssl/a", value)], [problem("error"), problem("error"), problem("warning")]))).toBe(
    "1 name mapped (none from the default certificate, 1 from 1 directory); 2 errors, 1 warning",
  );
  expect(summarize(result([]))).toBe("0 names mapped (none from the default certificate, 0 from 0 directories); 0 errors, 0 warnings");
});

test("the hostname as a map key: normalized, or a user error saying where to fix it; none when not set", () => {
  expect(mapKeyForHostname("MAIL.Example.TEST.")).toBe("mail.example.test");
  expect(mapKeyForHostname("mail.bücher.example")).toBe("mail.xn--bcher-kva.example");
  expect(mapKeyForHostname(undefined)).toBeUndefined();
  expect(mapKeyForHostname("")).toBeUndefined();
  for (const [raw, reason] of [
    ["*.example.test", "a hostname cannot be a wildcard"],
    ["mail_1.example.test", "label `mail_1` is not letters, digits and inner hyphens"],
  ]) {
    let thrown: unknown;
    try {
      mapKeyForHostname(raw);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(UserError);
    expect((thrown as UserError).message).toBe(
      `hostname ${JSON.stringify(raw)} (--hostname or MAILCOW_HOSTNAME) is not a valid DNS name: ${reason}; set MAILCOW_HOSTNAME in mailcow.conf to the server's FQDN`,
    );
  }
});

test("what the table embeds: each map line with the SHA-256 of its bytes", () => {
  const shared = Buffer.from("key and chain");
  const other = Buffer.from("another pair");
  const sha = (bytes: Uint8Array) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
  const digests = embeddedValueDigests([
    entry("a.test", "/ssl/a", shared),
    entry("www.a.test", "/ssl/a", shared),
    entry("b.test", "/ssl/b", other),
  ]);
  expect([...digests]).toEqual([
    ["a.test /ssl/a/key.pem /ssl/a/cert.pem", sha(shared)],
    ["www.a.test /ssl/a/key.pem /ssl/a/cert.pem", sha(shared)],
    ["b.test /ssl/b/key.pem /ssl/b/cert.pem", sha(other)],
  ]);
});

test("problems reach the log at their severity, in order; notes as information", () => {
  const lines: string[] = [];
  const log = {
    batch: (batch: readonly { level: string; message: string }[]) => lines.push(...batch.map((line) => `${line.level}: ${line.message}`)),
    info: (message: string) => lines.push(`info: ${message}`),
  } as unknown as Logger;
  logProblems([problem("warning"), problem("error")], log);
  logNotes(["a note", "another"], log);
  expect(lines).toEqual(["warning: warning line", "error: error line", "info: a note", "info: another"]);
});
