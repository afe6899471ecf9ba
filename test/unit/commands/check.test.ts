import { describe, expect, test } from "bun:test";
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { makeCertificateDirectory } from "../../support/certs.ts";
import { runCli } from "../../support/cli.ts";
import { mailTrees } from "../../support/fixture.ts";

const mailTree = mailTrees("mpi-cli-");

const tree = () => {
  const made = mailTree({ certificateDirs: { "example.org": ["example.org"] } });
  return { ...made, org: made.dirs["example.org"]! };
};

describe("check", () => {
  test("clean tree: exit 0, text report lists sources and names", async () => {
    const { sslDir, org } = tree();
    const result = await runCli(["check", "--ssl-dir", sslDir, "--hostname", "mail.example.test"]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain(`  example.org -> ${org.dir}`);
    expect(result.stdout).toContain("OK: 0 errors, 0 warnings");
  });

  test("--json: documented fields; errors give exit 1, warnings alone do not", async () => {
    const { sslDir, org } = tree();
    makeCertificateDirectory(sslDir, "soon.example", ["soon.example"], { days: 3 });
    const warned = await runCli(["check", "--json", "--ssl-dir", sslDir, "--hostname", "mail.example.test"]);
    expect(warned.exitCode).toBe(0);
    const report = JSON.parse(warned.stdout);
    expect(Object.keys(report)).toEqual([
      "schemaVersion",
      "sslDir",
      "hostname",
      "ok",
      "errors",
      "warnings",
      "sources",
      "entries",
      "problems",
      "notes",
    ]);
    expect(report).toMatchObject({ schemaVersion: 1, sslDir, hostname: "mail.example.test", ok: true, errors: 0, warnings: 1 });
    expect(report.problems[0]).toMatchObject({ severity: "warning", code: "expires-soon" });
    const orgSource = report.sources.find((source: { dir: string }) => source.dir === org.dir);
    expect(orgSource).toMatchObject({ kind: "directory", mapped: true, domainsFile: join(org.dir, "domains") });
    expect(orgSource.pairs[0]).toMatchObject({
      role: "main",
      keyFile: org.keyFile,
      certFile: org.certFile,
      names: ["example.org"],
      keyMatches: true,
      valid: true,
      error: null,
    });
    expect(Date.parse(orgSource.pairs[0].notAfter)).toBeGreaterThan(Date.now());
    expect(report.entries).toContainEqual({ name: "example.org", source: org.dir, files: [org.keyFile, org.certFile] });

    copyFileSync(join(sslDir, "key.pem"), org.keyFile);
    const failed = await runCli(["check", "--json", "--ssl-dir", sslDir, "--hostname", "mail.example.test"]);
    expect(failed.exitCode).toBe(1);
    const failedReport = JSON.parse(failed.stdout);
    expect(failedReport.ok).toBe(false);
    expect(failedReport.sources.find((source: { dir: string }) => source.dir === org.dir)).toMatchObject({
      mapped: false,
      pairs: [{ keyMatches: false, valid: false }],
    });
  });

  test("the value of every secret variable is redacted, even inside a path it prints", async () => {
    const secrets = { DBPASS: "dbpass-in-path", REDISPASS: "redis-in-path", MY_API_TOKEN: "token-in-path" };
    for (const [name, value] of Object.entries(secrets)) {
      const result = await runCli(["check", "--ssl-dir", `/nonexistent/${value}`], { [name]: value });
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toContain("cannot read the SSL directory /nonexistent/***");
      expect(result.stdout + result.stderr).not.toContain(value);
    }
  });

  test("unreadable SSL dir: one error, exit 1", async () => {
    const result = await runCli(["check", "--ssl-dir", "/nonexistent/ssl"]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain("cannot read the SSL directory /nonexistent/ssl (ENOENT)");
  });
});
