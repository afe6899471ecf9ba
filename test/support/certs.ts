import { X509Certificate } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

// Certificates made at test time with the openssl CLI (nothing committed, nothing produced by
// the code under test). EC P-256 keys by default: a few ms each; RSA where a test needs it.

export interface MadeCertificate {
  certFile: string;
  keyFile: string;
  /** SHA-256 fingerprint as node's X509Certificate prints it. */
  fingerprint: string;
}

export interface CertificateOptions {
  /** DNS names for subjectAltName; the first is also the CN. Empty: CN only (`cn`). */
  names: string[];
  cn?: string;
  keyType?: "ec" | "rsa";
  days?: number;
  certName?: string;
  keyName?: string;
}

export function openssl(args: string[], stdin?: string): string {
  const result = Bun.spawnSync(["openssl", ...args], { stdin: stdin === undefined ? "ignore" : Buffer.from(stdin), stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${result.stderr.toString()}`);
  return result.stdout.toString();
}

/** A self-signed certificate + key in `dir` (cert.pem/key.pem unless named otherwise). */
export function makeCertificate(dir: string, options: CertificateOptions): MadeCertificate {
  mkdirSync(dir, { recursive: true });
  const certFile = join(dir, options.certName ?? "cert.pem");
  const keyFile = join(dir, options.keyName ?? "key.pem");
  const keyArgs = options.keyType === "rsa" ? ["-newkey", "rsa:2048"] : ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
  const cn = options.cn ?? options.names[0] ?? "test";
  const sanArgs = options.names.length > 0 ? ["-addext", `subjectAltName=${options.names.map((name) => `DNS:${name}`).join(",")}`] : [];
  openssl(["req", "-x509", ...keyArgs, "-nodes", "-keyout", keyFile, "-out", certFile, "-days", String(options.days ?? 365), "-subj", `/CN=${cn}`, ...sanArgs]);
  return { certFile, keyFile, fingerprint: fingerprintOf(certFile) };
}

/** A certificate directory as mailcow's acme container writes it: domains + cert.pem + key.pem. */
export function makeCertificateDirectory(sslDir: string, name: string, domains: string[], options: Partial<CertificateOptions> = {}): MadeCertificate & { dir: string } {
  const dir = join(sslDir, name);
  const made = makeCertificate(dir, { names: domains, ...options });
  writeFileSync(join(dir, "domains"), domains.join(" "));
  return { ...made, dir };
}

export function fingerprintOf(certFile: string): string {
  return new X509Certificate(readFileSync(certFile)).fingerprint256;
}
