import { describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { runCli } from "../../support/cli.ts";
import { mailTrees } from "../../support/fixture.ts";

const mailTree = mailTrees("mpi-cli-");

const tree = () => {
  const made = mailTree({ certificateDirs: { "example.org": ["example.org"] } });
  return { ...made, org: made.dirs["example.org"]! };
};

describe("command line", () => {
  test("--version and --help", async () => {
    const version = await runCli(["--version"]);
    expect(version.stdout).toMatch(/^mailcow-postfix-init \d+\.\d+\.\d+\n$/);
    const help = await runCli(["--help"]);
    for (const name of ["start", "sni-map", "check", "reload", "entrypoint", "templates"]) expect(help.stdout).toContain(`  ${name} `);
    const commandHelp = await runCli(["sni-map", "--help"]);
    expect(commandHelp.stdout).toContain("--dry-run");
    expect(commandHelp.exitCode).toBe(0);
  });
  test("unknown command or flag: one line and a hint on stderr, exit 2", async () => {
    const command = await runCli(["frobnicate"]);
    expect(command.exitCode).toBe(2);
    expect(command.stderr).toContain("unknown command `frobnicate`");
    expect(command.stderr).toContain("hint: run `mailcow-postfix-init --help`");
    const flag = await runCli(["check", "--colour"]);
    expect(flag.exitCode).toBe(2);
    expect(flag.stderr).toContain("unknown flag `--colour`");
    const missing = await runCli(["sni-map", "--ssl-dir"]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stdout).toBe("");
  });
  test("an invalid hostname is one error line, exit 1", async () => {
    const { sslDir } = tree();
    const result = await runCli(["check", "--ssl-dir", sslDir], { MAILCOW_HOSTNAME: "mail example" });
    expect(result.exitCode).toBe(1);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(result.stderr).toContain("MAILCOW_HOSTNAME");
  });
});

describe("sni-map", () => {
  test("--dry-run prints exactly what a real run writes, and writes nothing", async () => {
    const { sslDir, confDir } = tree();
    const dry = await runCli(["sni-map", "--dry-run", "--ssl-dir", sslDir, "--conf-dir", confDir], {
      MAILCOW_HOSTNAME: "mail.example.test",
    });
    expect(dry.exitCode).toBe(0);
    expect(readdirSync(confDir)).toEqual(["main.cf"]);
    const real = await runCli(["sni-map", "--ssl-dir", sslDir, "--conf-dir", confDir], { MAILCOW_HOSTNAME: "mail.example.test" });
    expect(real.exitCode).toBe(0);
    expect(readFileSync(join(confDir, "sni.map"), "utf8")).toBe(dry.stdout);
    expect(dry.stdout.split("\n")).toHaveLength(4);
    expect(real.stderr).toMatch(
      /sni-map: 3 names mapped \(2 from the default certificate, 1 from 1 directory\); 0 errors, 0 warnings -> .*sni\.map\n$/,
    );
  });

  test("SKIP_LETS_ENCRYPT=y changes nothing", async () => {
    const { sslDir } = tree();
    const plain = await runCli(["sni-map", "--dry-run", "--ssl-dir", sslDir], { MAILCOW_HOSTNAME: "mail.example.test" });
    const skip = await runCli(["sni-map", "--dry-run", "--ssl-dir", sslDir], {
      MAILCOW_HOSTNAME: "mail.example.test",
      SKIP_LETS_ENCRYPT: "y",
    });
    expect(skip.stdout).toBe(plain.stdout);
    expect(skip.stdout).toContain("mail.example.test ");
  });

  test("a broken directory: map still written, one error line naming it", async () => {
    const { sslDir, confDir, org } = tree();
    copyFileSync(join(sslDir, "key.pem"), org.keyFile);
    const result = await runCli(["sni-map", "--ssl-dir", sslDir, "--conf-dir", confDir, "--hostname", "mail.example.test"]);
    expect(result.exitCode).toBe(0);
    const errors = result.stderr.split("\n").filter((line) => line.includes("error:"));
    expect(errors).toEqual([
      `mailcow-postfix-init: error: ${org.dir}: Postfix would not load this pair: the private key in ${org.keyFile} does not match the certificate in ${org.certFile} (OpenSSL: private key mismatch); not mapped; example.org gets the default certificate`,
    ]);
    expect(readFileSync(join(confDir, "sni.map"), "utf8")).not.toContain("example.org");
    expect(existsSync(join(confDir, "sni.map.db"))).toBe(true);
  });
});

test("the hostname is normalized like every other name (case, trailing dot)", async () => {
  const { sslDir } = tree();
  const result = await runCli(["check", "--json", "--ssl-dir", sslDir], { MAILCOW_HOSTNAME: "Mail.Example.TEST." });
  expect(JSON.parse(result.stdout).hostname).toBe("mail.example.test");
  const dry = await runCli(["sni-map", "--dry-run", "--ssl-dir", sslDir, "--hostname", "MAIL.example.test"]);
  expect(dry.stdout.split("\n").filter((line) => line.startsWith("mail.example.test "))).toHaveLength(1);
});
