import { X509Certificate } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
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
  /** Certify this existing key (copied to the pair's key file) instead of a new one, as mailcow's acme does with its shared key. */
  existingKey?: string;
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
  const newKey = options.keyType === "rsa" ? ["-newkey", "rsa:2048"] : ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
  if (options.existingKey !== undefined && options.existingKey !== keyFile) copyFileSync(options.existingKey, keyFile);
  const keyArgs = options.existingKey === undefined ? [...newKey, "-keyout", keyFile] : ["-key", keyFile];
  const cn = options.cn ?? options.names[0] ?? "test";
  const sanArgs = options.names.length > 0 ? ["-addext", `subjectAltName=${options.names.map((name) => `DNS:${name}`).join(",")}`] : [];
  openssl(["req", "-x509", ...keyArgs, "-nodes", "-out", certFile, "-days", String(options.days ?? 365), "-subj", `/CN=${cn}`, ...sanArgs]);
  return { certFile, keyFile, fingerprint: fingerprintOf(certFile) };
}

/** A certificate directory as mailcow's acme container writes it: domains + cert.pem + key.pem. */
export function makeCertificateDirectory(
  sslDir: string,
  name: string,
  domains: string[],
  options: Partial<CertificateOptions> = {},
): MadeCertificate & { dir: string } {
  const dir = join(sslDir, name);
  const made = makeCertificate(dir, { names: domains, ...options });
  writeFileSync(join(dir, "domains"), domains.join(" "));
  return { ...made, dir };
}

export function fingerprintOf(certFile: string): string {
  return new X509Certificate(readFileSync(certFile)).fingerprint256;
}

/**
 * A certificate directory whose certificate expired long ago (valid 2020-01-01 to 2020-02-01),
 * self-signed with `openssl ca -selfsign`, the openssl command that takes explicit dates.
 */
export function makeExpiredCertificateDirectory(sslDir: string, name: string, domains: string[]): MadeCertificate & { dir: string } {
  const dir = join(sslDir, name);
  mkdirSync(dir, { recursive: true });
  const scratch = mkdtempSync(join(tmpdir(), "mpi-expired-"));
  try {
    const keyFile = join(dir, "key.pem");
    const certFile = join(dir, "cert.pem");
    openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", keyFile]);
    writeFileSync(join(scratch, "index.txt"), "");
    writeFileSync(join(scratch, "serial"), "01\n");
    writeFileSync(
      join(scratch, "ca.cnf"),
      `[ca]\ndefault_ca = here\n[here]\ndatabase = ${scratch}/index.txt\nnew_certs_dir = ${scratch}\nserial = ${scratch}/serial\npolicy = any\ndefault_md = sha256\n[any]\ncommonName = supplied\n[leaf]\nsubjectAltName = ${domains.map((domain) => `DNS:${domain}`).join(",")}\n`,
    );
    const csr = join(scratch, "csr.pem");
    openssl(["req", "-new", "-key", keyFile, "-subj", `/CN=${domains[0]}`, "-out", csr]);
    openssl([
      "ca",
      "-batch",
      "-selfsign",
      "-config",
      join(scratch, "ca.cnf"),
      "-keyfile",
      keyFile,
      "-in",
      csr,
      "-out",
      certFile,
      "-notext",
      "-startdate",
      "20200101000000Z",
      "-enddate",
      "20200201000000Z",
      "-extensions",
      "leaf",
    ]);
    writeFileSync(join(dir, "domains"), domains.join(" "));
    return { dir, certFile, keyFile, fingerprint: fingerprintOf(certFile) };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
