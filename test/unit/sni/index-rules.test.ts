import { expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { UserError } from "../../../src/errors.ts";
import type { Logger } from "../../../src/log.ts";
import {
  embeddedValueDigests,
  LARGE_DB_BYTES,
  largeTableWarnings,
  type SniMapResult,
  logNotes,
  logProblems,
  mapKeyForHostname,
  planSniMapFromTree,
  planSniMapOnAllCores,
  summarize,
} from "../../../src/sni/index.ts";
import { embeddedValue } from "../../../src/sni/embedded.ts";
import type { MapEntry, Problem } from "../../../src/sni/types.ts";
import type { PairCache } from "../../../src/sni/cache.ts";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileIdentity } from "../../../src/file-identity.ts";
import { mailTrees } from "../../support/fixture.ts";

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
const mailTree = mailTrees("mpi-index-rules-");

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

test("a table projected above 100 MB is announced: its size, and the directory that adds the most (docs/map-rules.md)", () => {
  // postmap -F stores each value in base64 (4 bytes per 3) under every name, with the name and 32 bytes beside it.
  const sized = (sourceDir: string, count: number, length: number): MapEntry[] =>
    Array.from({ length: count }, (_, index) => ({
      name: `${String(index).padStart(4, "0")}.x.test`,
      sourceDir,
      files: [],
      value: { digest: "sha256:0", length },
    }));
  // /ssl/b: 300 x 100,043 bytes (29 MB of values); /ssl/a: 1,000 x 80,043 (76 MB); 110,055,900 bytes in all.
  expect(largeTableWarnings([...sized("/ssl/b", 300, 75_000), ...sized("/ssl/a", 1000, 60_000)])).toEqual([
    {
      severity: "warning",
      code: "large-table",
      source: "/ssl/a",
      message:
        "sni.map.db will be about 105 MB (Postfix stores the whole chain under every name); /ssl/a alone adds 76 MB. Fewer names per certificate or a wildcard name keeps it small",
    },
  ]);
  // Exactly 100 MB (a 4-letter name: 26,214,391 x 4 + 4 + 32 bytes) is not above it; 4 bytes more are.
  const one = (length: number): MapEntry[] => [{ name: "a.te", sourceDir: "/ssl/a", files: [], value: { digest: "sha256:0", length } }];
  expect(LARGE_DB_BYTES).toBe(104_857_600);
  expect(largeTableWarnings(one(78_643_173))).toEqual([]);
  expect(largeTableWarnings(one(78_643_174)).map((problem) => problem.message)).toEqual([
    "sni.map.db will be about 100 MB (Postfix stores the whole chain under every name); /ssl/a alone adds 100 MB. Fewer names per certificate or a wildcard name keeps it small",
  ]);
});

test("the plan reads the files with the identity it is given: a directory whose files change under every read is not mapped", async () => {
  const { sslDir, dirs } = mailTree({ certificateDirs: { "example.org": ["example.org"] } });
  const org = dirs["example.org"]!;
  let calls = 0;
  const identity = (path: string) => (path.startsWith(`${org.dir}/`) ? `${fileIdentity(path)}:${++calls}` : fileIdentity(path));
  const result = await planSniMapOnAllCores({ sslDir, hostname: "mail.example.test", identity });
  expect(result.sources.find((source) => source.source.dir === org.dir)?.main.failure?.code).toBe("changed-while-read");
  expect(result.entries.map((entry) => entry.name)).not.toContain("example.org");
  expect(result.entries.map((entry) => entry.name)).toContain("mail.example.test");
});

test("a tree where nothing vanished is listed and judged once, whatever else discovery says about it", () => {
  const { sslDir, dirs } = mailTree({ certificateDirs: { "example.org": ["example.org"], "example.net": ["example.net"] } });
  // A domains file that cannot be read (a directory): a problem of discovery's.
  rmSync(join(dirs["example.net"]!.dir, "domains"));
  mkdirSync(join(dirs["example.net"]!.dir, "domains"));
  let judged = 0;
  const cache: PairCache = {
    judge: (_key, judge) => {
      judged++;
      return judge();
    },
  };
  const result = planSniMapFromTree({ sslDir, hostname: "mail.example.test", cache });
  expect(result.problems.map((problem) => problem.code)).toContain("domains-unreadable");
  expect(judged).toBe(result.sources.length);
});
