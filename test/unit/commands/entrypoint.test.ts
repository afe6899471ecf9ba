import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Env } from "../../../src/env.ts";
import { createEntrypointCommand, resolveCommand } from "../../../src/commands/entrypoint.ts";
import { withLegacyTls } from "../../../src/steps/openssl-legacy.ts";
import { TEST_MAIL_CONFIG } from "../../support/host-guard.ts";
import { runCli } from "../../support/cli.ts";
import { makeTempDir } from "../../support/tmp.ts";

const temp = makeTempDir("mpi-entrypoint-");
afterAll(temp.cleanup);

function layout() {
  const root = join(temp.path, String(Math.random()).slice(2));
  const dirs = { hooks: join(root, "hooks"), syslog: join(root, "syslog-ng"), conf: join(root, "conf") };
  for (const dir of Object.values(dirs)) mkdirSync(dir, { recursive: true });
  writeFileSync(join(dirs.syslog, "syslog-ng.conf"), "default\n");
  writeFileSync(join(dirs.syslog, "syslog-ng-redis_slave.conf"), "replica\n");
  writeFileSync(join(dirs.conf, "main.cf"), "smtpd_tls_mandatory_protocols = >=TLSv1\n");
  const cnf = join(root, "openssl.cnf");
  writeFileSync(cnf, "[openssl_init]\n");
  const out = join(root, "hooks.out");
  writeFileSync(join(dirs.hooks, "01-first"), `#!/bin/sh\necho first >> ${out}\nexit 1\n`);
  writeFileSync(join(dirs.hooks, "02-second"), `#!/bin/sh\necho second >> ${out}\n`);
  for (const name of ["01-first", "02-second"]) chmodSync(join(dirs.hooks, name), 0o755);
  const flags = [`--hooks-dir=${dirs.hooks}`, `--syslog-ng-dir=${dirs.syslog}`, `--conf-dir=${dirs.conf}`, `--openssl-cnf=${cnf}`];
  return { ...dirs, cnf, out, flags };
}

async function entrypoint(words: string[], env: Env) {
  const execs: { path: string; argv: string[]; env: Env }[] = [];
  const command = createEntrypointCommand({ exec: (path, argv, childEnv) => void execs.push({ path, argv, env: childEnv }) });
  const result = await runCli(["entrypoint", ...words], env, [command]);
  return { exitCode: result.exitCode, execs, log: result.lines };
}

describe("entrypoint", () => {
  test("hooks in order (a failure goes on), syslog-ng and OpenSSL once, then exec CMD with its arguments", async () => {
    const t = layout();
    const env = { PATH: process.env.PATH, REDIS_SLAVEOF_IP: "10.0.0.5", MAIL_CONFIG: TEST_MAIL_CONFIG };
    const result = await entrypoint([...t.flags, "sh", "-c", "exit 0"], env);
    expect(result.exitCode).toBe(0);
    expect(readFileSync(t.out, "utf8")).toBe("first\nsecond\n");
    expect(result.log).toContain(`mailcow-postfix-init: error: hook ${t.hooks}/01-first failed (exit 1); continuing`);
    expect(readFileSync(join(t.syslog, "syslog-ng.conf"), "utf8")).toBe("replica\n");
    expect(readFileSync(t.cnf, "utf8")).toBe(withLegacyTls("[openssl_init]\n"));
    expect(result.execs).toEqual([{ path: Bun.which("sh")!, argv: ["sh", "-c", "exit 0"], env }]);

    // A restarted container runs the entrypoint again: openssl.cnf must not get a second copy.
    await entrypoint([...t.flags, "/bin/true"], env);
    expect(readFileSync(t.cnf, "utf8")).toBe(withLegacyTls("[openssl_init]\n"));
  });

  test("a command that does not exist: exit 127 before any hook runs", async () => {
    const t = layout();
    const result = await entrypoint([...t.flags, "no-such-program-here"], { PATH: "/usr/bin:/bin" });
    expect(result.exitCode).toBe(127);
    expect(result.log).toEqual(["mailcow-postfix-init: error: entrypoint: command `no-such-program-here` not found on PATH"]);
  });

  test("a hanging hook with a timeout is killed and the entrypoint goes on", async () => {
    const t = layout();
    writeFileSync(join(t.hooks, "00-hangs"), "#!/bin/sh\nexec sleep 60\n");
    chmodSync(join(t.hooks, "00-hangs"), 0o755);
    const started = Date.now();
    const result = await entrypoint([...t.flags, "--hook-timeout=0.3", "/bin/true"], { PATH: process.env.PATH });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(result.log).toContain(
      `mailcow-postfix-init: error: hook ${t.hooks}/00-hangs did not finish within 0.3s and was killed; continuing`,
    );
    expect(result.execs).toHaveLength(1);
  });

  test("CMD is required (usage error, exit 2)", async () => {
    const result = await runCli(["entrypoint"], {});
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("`entrypoint` needs CMD [ARGS...]");
  });

  test("resolveCommand", () => {
    expect(resolveCommand("/x/y", {})).toBe("/x/y");
    expect(resolveCommand("sh", { PATH: "/bin" })).toBe("/bin/sh");
  });
});
