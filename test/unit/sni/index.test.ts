import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, symlinkSync, writeFileSync, copyFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { LARGE_DB_BYTES, planSniMapFromTree, projectedDbBytes } from "../../../src/sni/index.ts";
import { makeCertificate, makeCertificateDirectory } from "../../support/certs.ts";
import { makeTempDir } from "../../support/tmp.ts";
import { mailTrees } from "../../support/fixture.ts";

// The engine on real certificate trees generated per test (discover -> validate -> plan -> render).

const cleanups: (() => void)[] = [];
afterAll(() => {
  for (const cleanup of cleanups) cleanup();
});

const mailTree = mailTrees("mpi-engine-");

function sslTree(defaultNames = ["mail.example.test", "example.test"]) {
  const { sslDir, defaultCert } = mailTree({ defaultNames, mainCf: null });
  return { sslDir, defaults: defaultCert! };
}

const line = (name: string, dir: string, extra = "") => `${name} ${dir}/key.pem ${dir}/cert.pem${extra}\n`;
const codes = (problems: { code: string }[]) => problems.map((problem) => problem.code).sort();

describe("default certificate", () => {
  test("single domain: mapped for the hostname and every name of the certificate (issue 5816)", () => {
    const { sslDir } = sslTree(["mail.example.test", "example.test", "*.example.test"]);
    const result = planSniMapFromTree({ sslDir, hostname: "mail.example.test" });
    expect(result.content).toBe(line(".example.test", sslDir) + line("example.test", sslDir) + line("mail.example.test", sslDir));
    expect(result.problems).toEqual([]);
  });

  test("CN is used when the certificate has no subject alternative names", () => {
    const temp = makeTempDir();
    cleanups.push(temp.cleanup);
    makeCertificate(temp.path, { names: [], cn: "Legacy.Example.test" });
    const result = planSniMapFromTree({ sslDir: temp.path, hostname: "legacy.example.test" });
    expect(result.content).toBe(line("legacy.example.test", temp.path));
  });

  test("hostname the certificate does not cover is mapped anyway, with a warning", () => {
    const { sslDir } = sslTree(["example.test"]);
    const result = planSniMapFromTree({ sslDir, hostname: "other.example.net" });
    expect(result.content).toBe(line("example.test", sslDir) + line("other.example.net", sslDir));
    expect(codes(result.problems)).toEqual(["hostname-not-covered"]);
  });

  test("missing default pair is an error; directories are still mapped", () => {
    const temp = makeTempDir();
    cleanups.push(temp.cleanup);
    const made = makeCertificateDirectory(temp.path, "example.org", ["example.org"]);
    makeCertificate(temp.path, { names: ["x.test"], keyName: "not-key.pem" });
    const result = planSniMapFromTree({ sslDir: temp.path, hostname: "mail.example.test" });
    expect(result.content).toBe(line("example.org", made.dir));
    expect(codes(result.problems)).toEqual(["default-missing"]);
  });
});

describe("certificate directories", () => {
  test("directory names win over the default, with one warning saying so; acme/ and backups/ are skipped quietly", () => {
    const { sslDir } = sslTree(["mail.example.test", "example.test", "shared.example.org"]);
    const org = makeCertificateDirectory(sslDir, "example.org", ["example.org", "shared.example.org"]);
    mkdirSync(join(sslDir, "acme"));
    writeFileSync(join(sslDir, "acme", "account.pem"), "x");
    mkdirSync(join(sslDir, "backups", "example.org", "2026-01-01"), { recursive: true });
    copyFileSync(org.certFile, join(sslDir, "backups", "example.org", "2026-01-01", "cert.pem"));
    const half = join(sslDir, "half-written");
    mkdirSync(half);
    writeFileSync(join(half, "domains"), "half.example.org");
    const result = planSniMapFromTree({ sslDir, hostname: "mail.example.test" });
    expect(result.content).toBe(
      line("example.test", sslDir) + line("mail.example.test", sslDir) + line("example.org", org.dir) + line("shared.example.org", org.dir),
    );
    expect(result.problems.map((problem) => [problem.code, problem.severity])).toEqual([["default-name-claimed", "warning"]]);
    expect(result.problems[0]!.message).toContain(
      `shared.example.org is a name of the default certificate (or the hostname) and listed by ${org.dir}: mapped to ${org.dir}`,
    );
  });

  test("a name claimed by two directories goes to the one valid longer, with one warning", () => {
    const { sslDir } = sslTree();
    const a = makeCertificateDirectory(sslDir, "a.example", ["a.example", "both.example", "twice.example"]);
    const b = makeCertificateDirectory(sslDir, "b.example", ["b.example", "both.example", "twice.example"], { days: 300 });
    const result = planSniMapFromTree({ sslDir, hostname: "mail.example.test" });
    expect(result.entries.filter((entry) => entry.name === "both.example").map((entry) => entry.sourceDir)).toEqual([a.dir]);
    expect(result.entries.find((entry) => entry.name === "b.example")?.sourceDir).toBe(b.dir);
    expect(result.problems.map((problem) => [problem.code, problem.source])).toEqual([["name-conflict", b.dir]]);
    expect(result.problems[0]!.message).toContain("both.example, twice.example");
  });

  test("ECDSA pair beside the RSA pair: both groups, key before chain", () => {
    const { sslDir } = sslTree();
    const org = makeCertificateDirectory(sslDir, "example.org", ["example.org"], { keyType: "rsa" });
    makeCertificate(org.dir, { names: ["example.org"], certName: "ecdsa-cert.pem", keyName: "ecdsa-key.pem" });
    const result = planSniMapFromTree({ sslDir, hostname: "mail.example.test" });
    expect(result.content).toContain(line("example.org", org.dir, ` ${org.dir}/ecdsa-key.pem ${org.dir}/ecdsa-cert.pem`));
  });

  test("a broken ECDSA pair is left out with an error; the RSA pair is still mapped", () => {
    const { sslDir } = sslTree();
    const org = makeCertificateDirectory(sslDir, "example.org", ["example.org"]);
    makeCertificate(org.dir, { names: ["example.org"], certName: "ecdsa-cert.pem", keyName: "ecdsa-key.pem" });
    makeCertificate(join(sslDir, "..", "other"), { names: ["x.test"], keyName: "k.pem" });
    copyFileSync(join(sslDir, "..", "other", "k.pem"), join(org.dir, "ecdsa-key.pem"));
    const result = planSniMapFromTree({ sslDir, hostname: "mail.example.test" });
    expect(result.content).toContain(line("example.org", org.dir));
    expect(codes(result.problems)).toEqual(["ecdsa-key-mismatch"]);
  });

  test("files at the top, a dangling domains link: skipped quietly only where the file is really absent", () => {
    const { sslDir } = sslTree(["mail.example.test"]);
    writeFileSync(join(sslDir, "dhparams.pem"), "x");
    const org = makeCertificateDirectory(sslDir, "example.org", ["example.org"]);
    Bun.spawnSync(["rm", join(org.dir, "domains")]);
    symlinkSync(join(sslDir, "nowhere"), join(org.dir, "domains"));
    const result = planSniMapFromTree({ sslDir, hostname: "mail.example.test" });
    expect(result.content).toBe(line("mail.example.test", sslDir));
    expect(result.problems.map((problem) => [problem.code, problem.source])).toEqual([["domains-unreadable", org.dir]]);
  });

  test("symlinked certificate directories are followed", () => {
    const { sslDir } = sslTree();
    const elsewhere = makeCertificateDirectory(join(sslDir, ".."), "real-org", ["example.org"]);
    symlinkSync(elsewhere.dir, join(sslDir, "example.org"));
    const result = planSniMapFromTree({ sslDir, hostname: "mail.example.test" });
    expect(result.content).toContain(line("example.org", join(sslDir, "example.org")));
  });

  test("names are normalized; junk is rejected in one warning naming the file", () => {
    const { sslDir } = sslTree();
    const org = makeCertificateDirectory(sslDir, "example.org", ["example.org", "*.example.org", "xn--bcher-kva.example"]);
    writeFileSync(
      join(org.dir, "domains"),
      "EXAMPLE.org example.org. \t*.Example.org\r\nBücher.example example.org a/b ../../etc x..y\u0007",
    );
    const result = planSniMapFromTree({ sslDir, hostname: "mail.example.test" });
    expect(result.entries.filter((entry) => entry.sourceDir === org.dir).map((entry) => entry.name)).toEqual([
      ".example.org",
      "example.org",
      "xn--bcher-kva.example",
    ]);
    expect(result.problems).toHaveLength(1);
    const [warning] = result.problems;
    expect(warning!.severity).toBe("warning");
    expect(warning!.message).toStartWith(`${org.dir}/domains: ignored 3 invalid names: "a/b"`);
    expect(warning!.message).toContain('"x..y\\u0007"');
    expect(result.content).not.toContain("a/b");
  });

  test("names the directory's certificate does not cover are mapped with a warning", () => {
    const { sslDir } = sslTree();
    const org = makeCertificateDirectory(sslDir, "example.org", ["example.org"]);
    writeFileSync(join(org.dir, "domains"), "example.org stale.example.net");
    const result = planSniMapFromTree({ sslDir, hostname: "mail.example.test" });
    expect(result.content).toContain(line("stale.example.net", org.dir));
    expect(result.problems.map((problem) => problem.code)).toEqual(["name-not-covered"]);
    expect(result.problems[0]!.message).toContain("stale.example.net");
  });

  test("a 1 MB domains file is handled in one pass with one warning", () => {
    const { sslDir } = sslTree();
    const org = makeCertificateDirectory(sslDir, "example.org", ["example.org"]);
    const junk = Array.from({ length: 100_000 }, (_, index) => (index % 2 ? `bad_${index}` : `ok${index}.example.org`)).join(" ");
    writeFileSync(join(org.dir, "domains"), `example.org ${junk}`.slice(0, 1_048_576));
    const result = planSniMapFromTree({ sslDir, hostname: "mail.example.test" });
    expect(result.entries.length).toBeGreaterThan(30_000);
    expect(result.problems.map((problem) => problem.code)).toEqual(["invalid-name", "name-not-covered"]);
    expect(result.problems[0]!.message).toContain("and ");
  });
});

describe("validation", () => {
  function brokenDirectory(mutate: (dir: string, sslDir: string) => void) {
    const { sslDir } = sslTree();
    const org = makeCertificateDirectory(sslDir, "example.org", ["example.org", "www.example.org"]);
    mutate(org.dir, sslDir);
    const result = planSniMapFromTree({ sslDir, hostname: "mail.example.test" });
    expect(result.content).toBe(line("example.test", sslDir) + line("mail.example.test", sslDir));
    const errors = result.problems.filter((problem) => problem.severity === "error");
    expect(errors).toHaveLength(1);
    expect(errors[0]!.source).toBe(org.dir);
    expect(errors[0]!.message).toContain("example.org, www.example.org get the default certificate");
    return errors[0]!;
  }

  test("mismatched key: not mapped, one error naming the directory", () => {
    const error = brokenDirectory((dir, sslDir) => copyFileSync(join(sslDir, "key.pem"), join(dir, "key.pem")));
    expect(error.code).toBe("key-mismatch");
  });
  test("empty certificate file", () => {
    expect(brokenDirectory((dir) => writeFileSync(join(dir, "cert.pem"), "")).code).toBe("cert-missing");
  });
  test("garbage certificate", () => {
    const garbage = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n";
    expect(brokenDirectory((dir) => writeFileSync(join(dir, "cert.pem"), garbage)).code).toBe("cert-invalid");
  });
  test("garbage key: Postfix then meets the certificate first", () => {
    expect(brokenDirectory((dir) => writeFileSync(join(dir, "key.pem"), "garbage\n")).code).toBe("key-not-first");
  });
  test("unreadable key (a directory where key.pem should be)", () => {
    const error = brokenDirectory((dir) => {
      Bun.spawnSync(["rm", join(dir, "key.pem")]);
      mkdirSync(join(dir, "key.pem"));
    });
    expect(error.code).toBe("key-unreadable");
    expect(error.message).toContain("a directory, not a regular file");
  });
  test("a pair Postfix loads but clients abort on (RSA-512: no TLS 1.3 signature): one error naming the key file", () => {
    const error = brokenDirectory((dir) => {
      Bun.spawnSync(
        [
          "openssl",
          "req",
          "-x509",
          "-newkey",
          "rsa:512",
          "-nodes",
          "-keyout",
          join(dir, "key.pem"),
          "-out",
          join(dir, "cert.pem"),
          "-days",
          "30",
          "-subj",
          "/CN=example.org",
        ],
        { stderr: "ignore" },
      );
    });
    expect(error.code).toBe("rsa-key-too-small");
    expect(error.message).toContain(`Postfix loads it, but ${error.source}/key.pem is a 512-bit RSA key`);
  });
  test("broken default pair: not mapped, directories still are", () => {
    const { sslDir } = sslTree();
    const org = makeCertificateDirectory(sslDir, "example.org", ["example.org"]);
    copyFileSync(org.keyFile, join(sslDir, "key.pem"));
    const result = planSniMapFromTree({ sslDir, hostname: "mail.example.test" });
    expect(result.content).toBe(line("example.org", org.dir));
    expect(result.problems.map((problem) => [problem.severity, problem.code, problem.source])).toEqual([["error", "key-mismatch", sslDir]]);
    expect(result.problems[0]!.message).toContain("the default certificate is not mapped");
  });
  test("expired and soon-expiring certificates are warnings, still mapped", () => {
    const { sslDir } = sslTree();
    makeCertificateDirectory(sslDir, "soon.example", ["soon.example"], { days: 10 });
    const soon = planSniMapFromTree({ sslDir, hostname: "mail.example.test" });
    expect(soon.problems.map((problem) => problem.code)).toEqual(["expires-soon"]);
    const later = planSniMapFromTree({ sslDir, hostname: "mail.example.test", now: new Date(Date.now() + 400 * 86_400_000) });
    expect(later.problems.map((problem) => problem.code)).toEqual(["expired", "expired"]);
    expect(later.content).toContain("soon.example ");
  });
});

test("the same tree gives byte-identical output", () => {
  const { sslDir } = sslTree();
  for (const name of ["zeta.example", "alpha.example", "Mid.example"])
    makeCertificateDirectory(sslDir, name, [name.toLowerCase(), `www.${name.toLowerCase()}`]);
  const first = planSniMapFromTree({ sslDir, hostname: "mail.example.test" }).content;
  const second = planSniMapFromTree({ sslDir, hostname: "mail.example.test" }).content;
  expect(second).toBe(first);
  expect(
    first
      .split("\n")
      .filter(Boolean)
      .map((entry) => entry.split(" ")[0]),
  ).toEqual([
    "example.test",
    "mail.example.test",
    "mid.example",
    "www.mid.example",
    "alpha.example",
    "www.alpha.example",
    "www.zeta.example",
    "zeta.example",
  ]);
});

describe("what an admin cannot see in Postfix's words", () => {
  test("a cert.pem with a byte-order mark: the error line says so", () => {
    const { sslDir, dirs } = mailTree({ certificateDirs: { "example.org": ["example.org"] } });
    const certFile = dirs["example.org"]!.certFile;
    writeFileSync(certFile, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), readFileSync(certFile)]));
    const result = planSniMapFromTree({ sslDir, hostname: "mail.example.test" });
    expect(result.content).not.toContain("example.org ");
    expect(result.problems.map((problem) => problem.message)).toEqual([
      expect.stringContaining(`${certFile} starts with a UTF-8 byte-order mark, which hides its first PEM block from Postfix`),
    ]);
  });

  test("a projected sni.map.db above 100 MB is announced before the build", () => {
    const entry = (name: string) => ({ name, sourceDir: "/ssl/x", files: [], value: { digest: "sha256:0", length: 6000 } });
    expect(projectedDbBytes([entry("a.test"), entry("b.test")])).toBe(2 * (8000 + 6 + 32));
    expect(LARGE_DB_BYTES).toBe(100 * 1024 * 1024);
  });
});
