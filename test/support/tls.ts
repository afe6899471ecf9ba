import { X509Certificate } from "node:crypto";

// What a TLS client actually receives: `openssl s_client -starttls smtp -servername NAME`.

export interface ServedCertificate {
  fingerprint: string;
  subject: string;
}

export async function servedCertificate(
  port: number,
  serverName: string,
  host = "127.0.0.1",
  extraArgs: string[] = [],
): Promise<ServedCertificate> {
  const proc = Bun.spawn(
    ["openssl", "s_client", "-starttls", "smtp", "-connect", `${host}:${port}`, "-servername", serverName, "-showcerts", ...extraArgs],
    {
      stdin: Buffer.from("QUIT\r\n"),
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  const timer = setTimeout(() => proc.kill(), 10_000);
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  clearTimeout(timer);
  await proc.exited;
  const pem = stdout.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/)?.[0];
  if (!pem) throw new Error(`no certificate received for SNI ${serverName} on port ${port}: ${stderr.slice(-500)}`);
  const certificate = new X509Certificate(pem);
  return { fingerprint: certificate.fingerprint256, subject: certificate.subject };
}
