import { existsSync, lstatSync, readdirSync, realpathSync, statSync, type Stats } from "node:fs";
import { join, resolve, sep } from "node:path";
import { MAX_DOMAINS_BYTES, describeReadFailure, readBoundedText } from "../bounded-read.ts";
import { errnoText, UserError } from "../errors.ts";
import { fileIdentity, statIdentity } from "../file-identity.ts";
import { escapeBytes } from "./certificate.ts";
import type { CertificateSource, KeyPairFiles, Problem } from "./types.ts";

// Where certificates live in mailcow's /etc/ssl/mail (written by the acme container):
// the default pair cert.pem + key.pem at the top, and one directory per certificate with
// cert.pem, key.pem and `domains`. Other directories (acme/, backups/) lack one of the three.

export const DEFAULT_CERT = "cert.pem";
/** Listings of the SSL dir when entries vanish under one (a directory replaced by mv), and the pause between. */
const MAX_LISTINGS = 3;
const LISTING_PAUSE_MS = 20;
export const DEFAULT_KEY = "key.pem";
export const DOMAINS_FILE = "domains";
export const ECDSA_CERT = "ecdsa-cert.pem";
export const ECDSA_KEY = "ecdsa-key.pem";

export interface Discovery {
  sslDir: string;
  /** The default pair first (when present), then directories in byte order of their names. */
  sources: CertificateSource[];
  problems: Problem[];
  /** Information for the log, not problems: dot-directories that hold a cert.pem. */
  notes: string[];
  /**
   * Identities (file-identity.ts) of what the listing depends on, each taken before it was
   * read: the SSL dir, every entry of it (a directory's identity changes when a file is added,
   * removed or renamed in it) and every domains file. validated sources add their pair files'.
   */
  observed: Record<string, string>;
}

/** List the certificate sources below `sslDir` without parsing any certificate. */
export function collectCertificateSources(sslDirInput: string, attempt = 1, identityOf = entryIdentity): Discovery {
  const sslDir = resolve(sslDirInput);
  const observed: Record<string, string> = { [sslDir]: fileIdentity(sslDir) };
  let rawEntries: Buffer[];
  try {
    rawEntries = readdirSync(sslDir, { encoding: "buffer" });
  } catch (error) {
    throw new UserError(
      `cannot read the SSL directory ${sslDir} (${errnoText(error)}); check the path and that it is mounted (mailcow: data/assets/ssl -> /etc/ssl/mail)`,
      1,
      { cause: error },
    );
  }
  const sources: CertificateSource[] = [];
  const problems: Problem[] = [];
  const notes: string[] = [];
  const entries = sortBytewise(utf8Names(sslDir, rawEntries, problems));
  // A domains file that is no symlink, in a directory that is no symlink, lies inside the SSL
  // dir: only the others are resolved (two realpath calls per directory add up at thousands).
  const plainDirectories = plainDirectoryNames(sslDir);
  let resolvedRoot: string | undefined;
  const root = () => (resolvedRoot ??= realpathSync(sslDir));

  if (existsSync(join(sslDir, DEFAULT_CERT)) && existsSync(join(sslDir, DEFAULT_KEY))) {
    sources.push({ kind: "default", dir: sslDir, main: pairIn(sslDir, DEFAULT_KEY, DEFAULT_CERT), ecdsa: ecdsaPairIn(sslDir) });
  } else {
    problems.push({
      severity: "error",
      code: "default-missing",
      source: sslDir,
      message: `${sslDir}: no default certificate (${DEFAULT_CERT} + ${DEFAULT_KEY}); names without their own directory get no certificate from the map. Restore the pair (mailcow's acme container or a snake-oil pair)`,
    });
  }

  let vanished = false;
  // A directory replaced while it was looked at (a renewal's two mv's) is looked at again in
  // the next listing; one still changing in the last listing is left out with one warning (the
  // problems of a listing taken again are dropped with it).
  const replaced = (dir: string) => {
    vanished = true;
    problems.push({
      severity: "warning",
      code: "vanished",
      source: dir,
      message: `${dir}: the directory was replaced while it was being read, ${MAX_LISTINGS} times; not mapped this time, the next start or reload maps it`,
    });
  };
  for (const entry of entries) {
    const dir = join(sslDir, entry);
    // Listed a moment ago and gone now: a directory being replaced with two mv's (the new one
    // staged beside it). The listing is taken again once it has had a moment to finish.
    const identity = identityOf(dir);
    if (identity === null) {
      vanished = true;
      continue;
    }
    if (identity !== undefined) observed[dir] = identity;
    // mailcow's own `SSL/*/` glob never sees a dot-directory, and ACME clients stage renewals
    // or keep old copies in them (`.example.org.old/`): never a certificate directory.
    if (entry.startsWith(".")) {
      if (!entryExists(join(dir, DEFAULT_CERT))) continue;
      notes.push(
        `${dir}: holds ${DEFAULT_CERT} but is not a certificate directory (its name starts with a dot, as mailcow's SSL/*/ glob skips); not mapped`,
      );
      continue;
    }
    // One listing per directory tells which hold a pair and what else they hold (files at the
    // top, such as dhparams.pem, have none); 2,000 directories are common.
    // Quietly skipped, as mailcow does: acme/, backups/, half-written directories.
    const listing = directoryListing(dir);
    if (!listing.has(DEFAULT_CERT) || !listing.has(DEFAULT_KEY)) {
      // Unless it was replaced while being looked at (moved away a moment before the listing).
      if (identityOf(dir) !== identity) replaced(dir);
      continue;
    }
    const domainsFile = join(dir, DOMAINS_FILE);
    observed[domainsFile] = fileIdentity(domainsFile);
    let domainsText: string;
    try {
      domainsText = readBoundedText(domainsFile, MAX_DOMAINS_BYTES);
    } catch (error) {
      // Replaced while being read (a renewal's two mv's: gone, or there again as another
      // directory): the listing is taken again.
      if (identityOf(dir) !== identity) {
        replaced(dir);
        continue;
      }
      // Not there: a half-written directory, skipped quietly as above.
      if (!entryExists(domainsFile)) continue;
      problems.push({
        severity: "error",
        code: "domains-unreadable",
        source: dir,
        message: `${dir}: cannot read ${DOMAINS_FILE} (${describeReadFailure(error)}); directory not mapped, its names get the default certificate; fix the file's type, size or permissions`,
      });
      continue;
    }
    const ecdsa = listing.has(ECDSA_KEY) && listing.has(ECDSA_CERT) ? pairIn(dir, ECDSA_KEY, ECDSA_CERT) : undefined;
    const domainsOutside =
      !(plainDirectories.has(entry) && listing.get(DOMAINS_FILE) === false) && !isInside(domainsFile, root) ? true : undefined;
    sources.push({ kind: "directory", dir, main: pairIn(dir, DEFAULT_KEY, DEFAULT_CERT), ecdsa, domainsFile, domainsText, domainsOutside });
  }
  if (vanished && attempt < MAX_LISTINGS) {
    Bun.sleepSync(LISTING_PAUSE_MS);
    return collectCertificateSources(sslDirInput, attempt + 1, identityOf);
  }
  return { sslDir, sources, problems, notes, observed };
}

/**
 * Entry names as text. A name that is not valid UTF-8 cannot be named in sni.map (nor by
 * mailcow, which names directories after domains): one error line, escaped, if it is a directory.
 */
function utf8Names(sslDir: string, raw: readonly Buffer[], problems: Problem[]): string[] {
  // ignoreBOM keeps a leading byte-order mark: stripped, the name would be another directory's.
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  const names: string[] = [];
  for (const bytes of raw) {
    try {
      names.push(decoder.decode(bytes));
    } catch {
      // A directory, or a link to one (followed, as other directories are): the trailing slash.
      if (!existsSync(Buffer.concat([Buffer.from(`${sslDir}/`), bytes, Buffer.from("/")]))) continue;
      const shown = `${sslDir}/${escapeBytes(bytes)}`;
      problems.push({
        severity: "error",
        code: "name-not-utf8",
        source: shown,
        message: `${shown}: the directory's name is not valid UTF-8, so it cannot be named in sni.map; not mapped, its names get the default certificate. Rename it after its domain`,
      });
    }
  }
  return names;
}

/**
 * What discovery depends on of an entry of the SSL dir: a directory's identity (it covers the
 * directory's listing); nothing for a file (the default pair, dhparams.pem), which matters only
 * by being there, as the SSL dir's own identity covers; "" (no identity: nothing can be known
 * of it, so no run is recorded) for an entry that cannot be followed, which may yet become one;
 * null for an entry gone since the SSL dir was listed.
 */
export function entryIdentity(path: string): string | undefined | null {
  let stat: Stats;
  try {
    stat = statSync(path);
  } catch {
    // There but not to be followed (a dangling link, a loop: fileIdentity's ""), or gone.
    return entryExists(path) ? fileIdentity(path) : null;
  }
  return stat.isDirectory() ? statIdentity(stat) : undefined;
}

/** Whether `path`, symlinks resolved, lies inside ROOT (resolved when asked); not when either cannot be resolved. */
function isInside(path: string, root: () => string): boolean {
  try {
    const resolvedRoot = root();
    return realpathSync(path).startsWith(resolvedRoot.endsWith(sep) ? resolvedRoot : resolvedRoot + sep);
  } catch {
    return false;
  }
}

/**
 * The entries of DIR that matter here, each with whether it is a symlink (a link dangling or
 * not counts as there, as validation then reports it). A directory that cannot be listed is
 * asked entry by entry: one that can be searched (mode 0711) answers; a file, a dangling link
 * or a link loop has none.
 */
function directoryListing(dir: string): Map<string, boolean> {
  const listing = new Map<string, boolean>();
  try {
    for (const entry of readdirSync(dir, { withFileTypes: true })) listing.set(entry.name, entry.isSymbolicLink());
  } catch {
    for (const name of [DEFAULT_CERT, DEFAULT_KEY, DOMAINS_FILE, ECDSA_KEY, ECDSA_CERT]) {
      try {
        listing.set(name, lstatSync(join(dir, name)).isSymbolicLink());
      } catch {
        // not there
      }
    }
  }
  return listing;
}

/**
 * Names of the entries of DIR that are directories, not symlinks (the type readdir reports);
 * none when DIR cannot be listed again (each domains file is then resolved).
 */
function plainDirectoryNames(dir: string): Set<string> {
  const names = new Set<string>();
  try {
    for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) names.add(entry.name);
  } catch {}
  return names;
}

export function pairIn(dir: string, key: string, cert: string): KeyPairFiles {
  return { keyFile: join(dir, key), certFile: join(dir, cert) };
}

function ecdsaPairIn(dir: string): KeyPairFiles | undefined {
  const pair = pairIn(dir, ECDSA_KEY, ECDSA_CERT);
  return existsSync(pair.keyFile) && existsSync(pair.certFile) ? pair : undefined;
}

/**
 * Whether a directory entry is there, followed or not (a dangling or looping link is: validation
 * then reports it); not when its directory cannot be reached (a file, a link loop, no access).
 */
function entryExists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
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
