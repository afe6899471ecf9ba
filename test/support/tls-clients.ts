// The TLS client families a mail server meets, run for real against a server's STARTTLS port:
// OpenSSL's s_client (TLS 1.3 and TLS 1.2 on their own), GnuTLS's gnutls-cli (what Debian's
// Exim links) and Postfix's posttls-finger (what a sending Postfix does). None of them verifies
// the certificate: the question is whether the handshake completes.

export type ClientFamily = "openssl-tls1.3" | "openssl-tls1.2" | "gnutls" | "posttls-finger";
export const CLIENT_FAMILIES: readonly ClientFamily[] = ["openssl-tls1.3", "openssl-tls1.2", "gnutls", "posttls-finger"];

export interface Handshake {
  completed: boolean;
  /** The client's last words when it did not complete (for messages). */
  detail: string;
}

/** One handshake of `family` with SNI `name` on 127.0.0.1:port. `mailConfig`: a dir with a main.cf (posttls-finger reads one). */
export async function handshake(family: ClientFamily, port: number, name: string, mailConfig: string): Promise<Handshake> {
  const { argv, env } = command(family, port, name, mailConfig);
  const proc = Bun.spawn(argv, {
    stdin: family.startsWith("openssl") ? Buffer.from("QUIT\r\n") : "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, ...env },
  });
  const timer = setTimeout(() => proc.kill(), 20_000);
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  clearTimeout(timer);
  const exitCode = await proc.exited;
  const output = `${stdout}\n${stderr}`;
  const completed =
    family === "posttls-finger"
      ? /TLS connection established/.test(output)
      : family === "gnutls"
        ? exitCode === 0 && /Handshake was completed/.test(output)
        : exitCode === 0 && /^New, TLSv1\.[23], Cipher is /m.test(output);
  const detail = output
    .split("\n")
    .filter((line) => /error|fail|alert|abort|warning/i.test(line))
    .slice(-3)
    .join(" | ");
  return { completed, detail: detail || output.trim().split("\n").slice(-2).join(" | ") };
}

function command(family: ClientFamily, port: number, name: string, mailConfig: string): { argv: string[]; env: Record<string, string> } {
  switch (family) {
    case "openssl-tls1.3":
    case "openssl-tls1.2":
      return {
        argv: [
          "openssl",
          "s_client",
          "-starttls",
          "smtp",
          "-connect",
          `127.0.0.1:${port}`,
          "-servername",
          name,
          family === "openssl-tls1.3" ? "-tls1_3" : "-tls1_2",
        ],
        env: {},
      };
    case "gnutls":
      return {
        argv: ["gnutls-cli", "--starttls-proto=smtp", "--insecure", "--sni-hostname", name, "-p", String(port), "127.0.0.1"],
        env: {},
      };
    case "posttls-finger":
      return {
        argv: ["posttls-finger", "-c", "-l", "may", "-s", name, "-o", "smtp_tls_loglevel=1", `[127.0.0.1]:${port}`],
        env: { MAIL_CONFIG: mailConfig },
      };
  }
}
