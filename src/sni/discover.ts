import { existsSync, readdirSync, realpathSync } from "node:fs";
import { join, resolve, sep } from "node:path";
import { MAX_DOMAINS_BYTES, describeReadFailure, readBoundedText } from "../bounded-read.ts";
import { UserError } from "../errors.ts";
import type { CertificateSource, KeyPairFiles, Problem } from "./types.ts";

// Where certificates live in mailcow's /etc/ssl/mail (written by the acme container):
// the default pair cert.pem + key.pem at the top, and one directory per certificate with
// cert.pem, key.pem and `domains`. Other directories (acme/, backups/) lack one of the three.

export const DEFAULT_CERT = "cert.pem";
export const DEFAULT_KEY = "key.pem";
export const DOMAINS_FILE = "domains";
export const ECDSA_CERT = "ecdsa-cert.pem";
export const ECDSA_KEY = "ecdsa-key.pem";

export interface Discovery {
  sslDir: string;
  /** The default pair first (when present), then directories in byte order of their names. */
  sources: CertificateSource[];
  problems: Problem[];
}

/** List the certificate sources below `sslDir` without parsing any certificate. */
export function collectCertificateSources(sslDirInput: string): Discovery {
  const sslDir = resolve(sslDirInput);
  let entries: string[];
  try {
    entries = sortBytewise(readdirSync(sslDir));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "error";
    throw new UserError(
      `cannot read the SSL directory ${sslDir} (${code}); check the path and that it is mounted (mailcow: data/assets/ssl -> /etc/ssl/mail)`,
      1,
      { cause: error },
    );
  }
  const sources: CertificateSource[] = [];
  const problems: Problem[] = [];

  if (existsSync(join(sslDir, DEFAULT_CERT)) && existsSync(join(sslDir, DEFAULT_KEY))) {
    sources.push({ kind: "default", dir: sslDir, rsa: pairIn(sslDir, DEFAULT_KEY, DEFAULT_CERT), ecdsa: ecdsaPairIn(sslDir) });
  } else {
    problems.push({
      severity: "error",
      code: "default-missing",
      source: sslDir,
      message: `${sslDir}: no default certificate (${DEFAULT_CERT} + ${DEFAULT_KEY}); names without their own directory get no certificate from the map. Restore the pair (mailcow's acme container or a snake-oil pair)`,
    });
  }

  for (const entry of entries) {
    const dir = join(sslDir, entry);
    // One listing per directory instead of a stat per file: 2,000 directories are common.
    const files = listDirectory(dir);
    if (!files) continue;
    // Quietly skipped, as mailcow does: acme/, backups/, half-written directories.
    if (!files.has(DOMAINS_FILE) || !files.has(DEFAULT_CERT) || !files.has(DEFAULT_KEY)) continue;
    const domainsFile = join(dir, DOMAINS_FILE);
    let domainsText: string;
    try {
      domainsText = readBoundedText(domainsFile, MAX_DOMAINS_BYTES);
    } catch (error) {
      problems.push({
        severity: "error",
        code: "domains-unreadable",
        source: dir,
        message: `${dir}: cannot read ${DOMAINS_FILE} (${describeReadFailure(error)}); directory not mapped, its names get the default certificate; fix the file's type, size or permissions`,
      });
      continue;
    }
    const ecdsa = files.has(ECDSA_KEY) && files.has(ECDSA_CERT) ? pairIn(dir, ECDSA_KEY, ECDSA_CERT) : undefined;
    const domainsOutside = !isInside(domainsFile, sslDir) || undefined;
    sources.push({ kind: "directory", dir, rsa: pairIn(dir, DEFAULT_KEY, DEFAULT_CERT), ecdsa, domainsFile, domainsText, domainsOutside });
  }
  return { sslDir, sources, problems };
}

/** Whether `path`, symlinks resolved, lies inside `dir` (resolved too). */
function isInside(path: string, dir: string): boolean {
  try {
    const root = realpathSync(dir);
    return realpathSync(path).startsWith(root.endsWith(sep) ? root : root + sep);
  } catch {
    return false;
  }
}

function pairIn(dir: string, key: string, cert: string): KeyPairFiles {
  return { keyFile: join(dir, key), certFile: join(dir, cert) };
}

function ecdsaPairIn(dir: string): KeyPairFiles | undefined {
  const pair = pairIn(dir, ECDSA_KEY, ECDSA_CERT);
  return existsSync(pair.keyFile) && existsSync(pair.certFile) ? pair : undefined;
}

/** Names in `path` when it is a directory (symlinks followed), else undefined. */
function listDirectory(path: string): Set<string> | undefined {
  try {
    return new Set(readdirSync(path));
  } catch {
    return undefined; // a file (ENOTDIR), a dangling link, or unreadable: not a certificate directory
  }
}

/**
 * Sorted in byte order, independent of locale, so the same tree always gives the same map.
 * Each name is encoded once, not once per comparison (2,000 directories are common).
 */
export function sortBytewise(names: readonly string[]): string[] {
  return names
    .map((name) => ({ name, bytes: Buffer.from(name) }))
    .sort((a, b) => Buffer.compare(a.bytes, b.bytes))
    .map((entry) => entry.name);
}
