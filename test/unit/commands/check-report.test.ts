import { expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { copyFileSync, readFileSync } from "node:fs";
import { makeCertificate, makeCertificateDirectory } from "../../support/certs.ts";
import { runCli } from "../../support/cli.ts";
import { mailTrees, tempDirs } from "../../support/fixture.ts";

// `check`'s whole text report, line for line, and its JSON when the tree cannot be read: what
// an admin reads (docs/commands.md). Found by mutation testing: report.ts's text was unpinned.

const mailTree = mailTrees("mpi-check-report-");
const tempDir = tempDirs("mpi-check-report-empty-");
const notAfter = (certFile: string) => new Date(new X509Certificate(readFileSync(certFile)).validTo).toISOString();

test("the text report: every source and pair, mapped names, problems, and the count", async () => {
  const { sslDir, defaultCert } = mailTree({ defaultNames: ["mail.example.test"] });
  const broken = makeCertificateDirectory(sslDir, "broken.example", ["broken.example"]);
  copyFileSync(defaultCert!.keyFile, broken.keyFile);
  const both = makeCertificateDirectory(sslDir, "both.example", ["both.example"], { keyType: "rsa" });
  makeCertificate(both.dir, { names: ["both.example"], certName: "ecdsa-cert.pem", keyName: "ecdsa-key.pem" });
  makeCertificateDirectory(sslDir, "soon.example", ["soon.example"], { days: 3 }); // one warning
  Bun.sleepSync(60);
  const result = await runCli(["check", "--ssl-dir", sslDir, "--hostname", "mail.example.test"]);
  expect(result.exitCode).toBe(1);
  const lines = result.stdout.split("\n");
  expect(lines.slice(0, 4)).toEqual([
    `Certificate sources in ${sslDir} (hostname: mail.example.test)`,
    `  ${sslDir} [default]`,
    `    main: ${sslDir}/cert.pem + ${sslDir}/key.pem: key matches`,
    `      names: mail.example.test; not after: ${notAfter(defaultCert!.certFile)}`,
  ]);
  expect(lines).toContain(`  ${both.dir} [directory]`);
  expect(lines).toContain(`    ecdsa: ${both.dir}/ecdsa-cert.pem + ${both.dir}/ecdsa-key.pem: key matches`);
  expect(lines).toContain(`  ${broken.dir} [directory, NOT MAPPED]`);
  const unusable = lines.findIndex((line) =>
    line.startsWith(`    main: ${broken.certFile} + ${broken.keyFile}: unusable: Postfix would not load this pair: `),
  );
  expect(unusable).toBeGreaterThan(0);
  expect(lines[unusable + 1]).toBe("      names: (none); not after: unknown");
  const mapped = lines.indexOf("Mapped names:");
  expect(lines[mapped - 1]).toBe("");
  expect(lines.slice(mapped + 1, mapped + 3)).toEqual([`  mail.example.test -> ${sslDir}`, `  both.example -> ${both.dir}`]);
  const problems = lines.indexOf("Problems:");
  expect(lines[problems - 1]).toBe("");
  expect(lines.slice(problems + 1, -3).map((line) => line.slice(0, line.indexOf(": ", 12)))).toEqual([
    `  warning: ${sslDir}/soon.example`,
    `  error: ${broken.dir}`,
  ]);
  expect(lines.slice(-3)).toEqual(["", "FAILED: 1 error, 1 warning", ""]);
});

test("an empty tree: no sources, no names (the default chain for all), one error", async () => {
  const sslDir = tempDir();
  const result = await runCli(["check", "--ssl-dir", sslDir]);
  expect(result.stdout).toStartWith(
    `Certificate sources in ${sslDir} (hostname: not set)\n  (none)\n\nMapped names:\n  (none: every name gets Postfix's default chain)\n\nProblems:\n  error: `,
  );
  expect(result.stdout).toEndWith("\n\nFAILED: 1 error, 0 warnings\n");
  expect(result.exitCode).toBe(1);
});

test("a clean tree counts in the plural and says OK", async () => {
  const { sslDir } = mailTree({
    defaultNames: ["mail.example.test"],
    certificateDirs: { "a.example": ["a.example"], "b.example": ["b.example"] },
  });
  const result = await runCli(["check", "--ssl-dir", sslDir, "--hostname", "mail.example.test"]);
  expect(result.stdout).toEndWith(
    `\nMapped names:\n  mail.example.test -> ${sslDir}\n  a.example -> ${sslDir}/a.example\n  b.example -> ${sslDir}/b.example\n\nOK: 0 errors, 0 warnings\n`,
  );
  expect(result.stdout).not.toContain("Problems:");
});

test("--json when the SSL dir cannot be read: the one error, nothing else", async () => {
  const result = await runCli(["check", "--json", "--ssl-dir", "/nonexistent/ssl", "--hostname", "mail.example.test"]);
  expect(result.exitCode).toBe(1);
  const report = JSON.parse(result.stdout);
  expect(report).toEqual({
    schemaVersion: 1,
    sslDir: "/nonexistent/ssl",
    hostname: "mail.example.test",
    ok: false,
    errors: 1,
    warnings: 0,
    sources: [],
    entries: [],
    notes: [],
    problems: [
      {
        severity: "error",
        code: "ssl-dir-unreadable",
        source: "/nonexistent/ssl",
        message: expect.stringContaining("cannot read the SSL directory /nonexistent/ssl"),
      },
    ],
  });
  const withoutHostname = JSON.parse((await runCli(["check", "--json", "--ssl-dir", "/nonexistent/ssl"])).stdout);
  expect(withoutHostname.hostname).toBeNull();
});

test("a certificate's names joined by spaces, no (none) line beside real sources; JSON with the key type and line separators escaped", async () => {
  const { sslDir } = mailTree({ defaultNames: ["mail.example.test", "www.example.test"] });
  const odd = makeCertificateDirectory(sslDir, "odd\u2028dir.example", ["odd.example"]);
  const text = await runCli(["check", "--ssl-dir", sslDir, "--hostname", "mail.example.test"]);
  expect(text.stdout).toContain("      names: mail.example.test www.example.test; not after: ");
  expect(text.stdout.split("\n")).not.toContain("  (none)");
  const json = await runCli(["check", "--json", "--ssl-dir", sslDir, "--hostname", "mail.example.test"]);
  expect(json.stdout).toContain("odd\\u2028dir.example");
  expect(json.stdout).not.toContain("\u2028");
  const report = JSON.parse(json.stdout);
  expect(report.sources.find((source: { dir: string }) => source.dir === odd.dir).pairs[0].keyType).toBe("EC");
});
