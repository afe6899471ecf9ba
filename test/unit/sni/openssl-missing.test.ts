import { expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// Without the system's OpenSSL 3 (libssl.so.3 / libcrypto.so.3, which Postfix links and which
// judges certificates here), a run says what is missing and what to install, once, instead of
// a stack trace. The library is hidden in a mount namespace of the child alone (/dev/null bound
// over it); the host's files are never touched.

const OPENSSL = join(import.meta.dir, "../../../src/sni/openssl.ts");

/** Where the dynamic loader finds LIBRARY (ldconfig's cache). */
function libraryPath(library: string): string {
  const cache = Bun.spawnSync(["ldconfig", "-p"]).stdout.toString();
  const line = cache.split("\n").find((entry) => entry.trim().startsWith(`${library} `) && entry.includes("x86-64"));
  const path = line?.split("=> ")[1]?.trim();
  if (!path) throw new Error(`${library} not in ldconfig's cache`);
  return path;
}

/** Open OpenSSL twice in a child that cannot load LIBRARY; what it reports. */
function openWithout(library: string): { status: number | null; stdout: string; stderr: string } {
  const script = `
    const { openSsl } = await import(${JSON.stringify(OPENSSL)});
    for (const attempt of [1, 2]) {
      try { openSsl(); console.log("opened"); }
      catch (error) { console.log(JSON.stringify({ attempt, name: error.name, exitCode: error.exitCode, message: error.message, cause: error.cause instanceof Error })); }
    }
  `;
  const run = Bun.spawnSync(
    [
      "unshare",
      "--mount",
      "--propagation",
      "private",
      "sh",
      "-c",
      'mount --bind /dev/null "$1" && exec "$2" -e "$3"',
      "sh",
      libraryPath(library),
      process.execPath,
      script,
    ],
    { stdout: "pipe", stderr: "pipe" },
  );
  return { status: run.exitCode, stdout: run.stdout.toString(), stderr: run.stderr.toString() };
}

for (const library of ["libssl.so.3", "libcrypto.so.3"]) {
  test(`without ${library}: a user error naming both libraries and the package to install, every time it is asked`, () => {
    const { status, stdout, stderr } = openWithout(library);
    expect({ status, stderr }).toEqual({ status: 0, stderr: "" });
    const reports = stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(reports).toHaveLength(2);
    for (const [index, report] of reports.entries()) {
      expect(report).toMatchObject({ attempt: index + 1, name: "UserError", exitCode: 1, cause: true });
      expect(report.message).toStartWith(
        "cannot load OpenSSL 3 (libssl.so.3, libcrypto.so.3), which Postfix uses to load certificates and which judges them here: ",
      );
      expect(report.message).toEndWith("; install Debian's libssl3 package");
      expect(report.message).toContain(`"${library}"`); // the loader's own words on which library failed
    }
  });
}

test("an OpenSSL that cannot make a TLS server context (no usable provider): a user error saying so", () => {
  const dir = mkdtempSync(join(tmpdir(), "mpi-openssl-conf-"));
  try {
    const conf = join(dir, "openssl.cnf");
    // Only OpenSSL's null provider: no algorithms, so SSL_CTX_new fails.
    writeFileSync(conf, "openssl_conf = init\n[init]\nproviders = providers\n[providers]\nnull = null\n[null]\nactivate = 1\n");
    const script = `
      const { openSsl } = await import(${JSON.stringify(OPENSSL)});
      try { openSsl(); console.log("opened"); } catch (error) { console.log(JSON.stringify({ name: error.name, message: error.message })); }
    `;
    const run = Bun.spawnSync([process.execPath, "-e", script], {
      env: { ...process.env, OPENSSL_CONF: conf },
      stdout: "pipe",
      stderr: "pipe",
    });
    expect({ status: run.exitCode, stderr: run.stderr.toString() }).toEqual({ status: 0, stderr: "" });
    expect(JSON.parse(run.stdout.toString())).toEqual({
      name: "UserError",
      message: "OpenSSL could not create a TLS server context (SSL_CTX_new failed)",
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the libraries are opened once per process: every caller gets the same handles and server context", async () => {
  const { openSsl } = await import("../../../src/sni/openssl.ts");
  const first = openSsl();
  expect(openSsl()).toBe(first);
  expect(openSsl().serverContext).toBe(first.serverContext);
});
