import { chownSync, mkdirSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { writeSettledFile } from "./tmp.ts";

// Debian's Postfix, started in the foreground (`master -s -c DIR`) with its own config dir,
// queue and log on a loopback port: never the system instance. Stopped by the PID we started.

export interface TestPostfix {
  port: number;
  confDir: string;
  /** Everything Postfix logged so far. */
  log(): string;
  stop(): Promise<number | null>;
}

export interface TestPostfixOptions {
  root: string;
  /** The default chain (smtpd_tls_chain_files): key first. */
  defaultKey: string;
  defaultCert: string;
  /** Config dir holding sni.map(.db); `tls_server_sni_maps = hash:CONF/sni.map`. */
  confDir: string;
  /** master.cf lines added to the minimal set (e.g. cleanup and rewrite, for a session that reaches DATA). */
  extraServices?: string[];
}

export function daemonDirectory(): string {
  const result = Bun.spawnSync(["postconf", "-d", "-h", "daemon_directory"]);
  if (result.exitCode !== 0) throw new Error(`postconf -d failed: ${result.stderr.toString()}`);
  return result.stdout.toString().trim();
}

export async function freePort(): Promise<number> {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

/** main.cf + master.cf for a minimal TLS-only smtpd on 127.0.0.1:PORT. */
export function writePostfixConfig(options: TestPostfixOptions, port: number): void {
  const { root, confDir } = options;
  for (const dir of ["spool", "data"]) mkdirSync(join(root, dir), { recursive: true });
  chownSync(join(root, "data"), postfixUid(), -1);
  writeSettledFile(
    join(confDir, "main.cf"),
    [
      "compatibility_level = 3.6",
      `queue_directory = ${root}/spool`,
      `data_directory = ${root}/data`,
      "inet_interfaces = 127.0.0.1",
      "inet_protocols = ipv4",
      "myhostname = test-postfix.invalid",
      "mydestination =",
      "local_recipient_maps =",
      `maillog_file_prefixes = ${root}`,
      `maillog_file = ${root}/maillog`,
      "smtpd_tls_security_level = may",
      `smtpd_tls_chain_files = ${options.defaultKey}, ${options.defaultCert}`,
      `tls_server_sni_maps = hash:${confDir}/sni.map`,
      "smtpd_tls_loglevel = 1",
      "",
    ].join("\n"),
  );
  writeSettledFile(
    join(confDir, "master.cf"),
    minimalMasterCf(`127.0.0.1:${port}`) + (options.extraServices ?? []).map((line) => `${line}\n`).join(""),
  );
}

/** master.cf with smtpd on `listen` and only the services a TLS handshake needs. */
export function minimalMasterCf(listen: string): string {
  return [
    `${listen} inet n - n - - smtpd`,
    "postlog unix-dgram n - n - 1 postlogd",
    "tlsmgr unix - - n 1000? 1 tlsmgr",
    "anvil unix - - n - 1 anvil",
    "proxymap unix - - n - - proxymap",
    "",
  ].join("\n");
}

/** Start master in the foreground; resolves once the SMTP port answers. */
export async function startTestPostfix(options: TestPostfixOptions): Promise<TestPostfix> {
  const port = await freePort();
  writePostfixConfig(options, port);
  const check = Bun.spawnSync(["postfix", "-c", options.confDir, "check"]);
  if (check.exitCode !== 0) throw new Error(`postfix check failed: ${check.stderr.toString()}`);
  const master = Bun.spawn([join(daemonDirectory(), "master"), "-s", "-c", options.confDir], { stdout: "ignore", stderr: "pipe" });
  const logFile = join(options.root, "maillog");
  const log = () => {
    try {
      return readFileSync(logFile, "utf8");
    } catch {
      return "";
    }
  };
  const stop = async () => {
    master.kill("SIGTERM");
    return await master.exited;
  };
  try {
    await waitForBanner(port, 10_000);
  } catch (error) {
    await stop();
    throw new Error(`test Postfix did not come up on port ${port}: ${(error as Error).message}\n${log()}`);
  }
  return { port, confDir: options.confDir, log, stop };
}

export async function waitForBanner(port: number, timeoutMs: number, host = "127.0.0.1"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = "";
  while (Date.now() < deadline) {
    const banner = await new Promise<string>((resolve) => {
      const socket = connect({ host, port });
      socket.setTimeout(2000);
      socket.once("data", (data) => {
        socket.destroy();
        resolve(data.toString());
      });
      socket.once("error", (error) => resolve(`error: ${error.message}`));
      socket.once("timeout", () => {
        socket.destroy();
        resolve("error: timeout");
      });
    });
    if (banner.startsWith("220")) return;
    lastError = banner;
    await Bun.sleep(50);
  }
  throw new Error(`no SMTP banner on ${host}:${port} within ${timeoutMs} ms (${lastError})`);
}

export function postfixUid(): number {
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((entry) => entry.startsWith("postfix:"));
  if (!line) throw new Error("no postfix user: install Debian's postfix package");
  return Number(line.split(":")[2]);
}
