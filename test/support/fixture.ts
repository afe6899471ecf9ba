import { afterAll } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { makeCertificate, makeCertificateDirectory, type CertificateOptions, type MadeCertificate } from "./certs.ts";
import { writeLivedInConf } from "./lived-in.ts";
import { makeTempDir, writeSettledFile } from "./tmp.ts";
import { TEST_MAIL_CONFIG } from "./host-guard.ts";

// The one set-up of a temp dir with a conf dir and a certificate tree: ROOT/conf (a minimal
// main.cf, the lived-in mailcow one, or none), ROOT/ssl with the default pair and certificate
// directories as mailcow's acme container writes them. Nothing outside ROOT is used.

/** main.cf enough for postmap and postconf, older than Postfix's settle time. */
export const MINIMAL_MAIN_CF = "compatibility_level = 3.6\nmyhostname = test.invalid\n";

/** A conf dir at DIR (created, parents too) holding only MINIMAL_MAIN_CF, settled; DIR. */
export function minimalConfDir(dir: string): string {
  mkdirSync(dir, { recursive: true });
  writeSettledFile(join(dir, "main.cf"), MINIMAL_MAIN_CF);
  return dir;
}

export interface MailTreeOptions {
  /** DNS names of the default pair ssl/cert.pem + key.pem; null: no default pair. */
  defaultNames?: string[] | null;
  defaultCertificate?: Partial<CertificateOptions>;
  /** Certificate directories: name -> its domains. */
  certificateDirs?: Record<string, string[]>;
  /** main.cf of the conf dir: its text, "lived-in" (mailcow's real conf, see lived-in.ts), or null for no conf dir. */
  mainCf?: string | "lived-in" | null;
}

export interface MailTree {
  root: string;
  confDir: string;
  sslDir: string;
  defaultCert: MadeCertificate | undefined;
  dirs: Record<string, MadeCertificate & { dir: string }>;
}

/**
 * A factory of empty temp dirs (traversable by Postfix's processes), removed after the test
 * file. Call it at the top level of a test file (it registers the file's afterAll).
 */
export function tempDirs(prefix = "mpi-test-"): () => string {
  const cleanups: (() => void)[] = [];
  afterAll(() => {
    for (const cleanup of cleanups.splice(0)) cleanup();
  });
  return () => {
    const temp = makeTempDir(prefix);
    cleanups.push(temp.cleanup);
    return temp.path;
  };
}

/** A factory of mail trees, each in its own temp dir removed after the test file (see tempDirs). */
export function mailTrees(prefix = "mpi-test-"): (options?: MailTreeOptions) => MailTree {
  const tempDir = tempDirs(prefix);
  return (options = {}) => {
    const root = tempDir();
    const confDir = join(root, "conf");
    const sslDir = join(root, "ssl");
    const mainCf = options.mainCf === undefined ? MINIMAL_MAIN_CF : options.mainCf;
    if (mainCf !== null) {
      mkdirSync(confDir);
      if (mainCf === "lived-in") writeLivedInConf(confDir, { root, listen: "127.0.0.1" });
      else writeSettledFile(join(confDir, "main.cf"), mainCf);
    }
    mkdirSync(sslDir);
    const defaultNames = options.defaultNames === undefined ? ["mail.example.test", "example.test"] : options.defaultNames;
    const defaultCert = defaultNames === null ? undefined : makeCertificate(sslDir, { names: defaultNames, ...options.defaultCertificate });
    const dirs = Object.fromEntries(
      Object.entries(options.certificateDirs ?? {}).map(([name, domains]) => [name, makeCertificateDirectory(sslDir, name, domains)]),
    );
    return { root, confDir, sslDir, defaultCert, dirs };
  };
}

/** The environment a child process of a test gets: PATH and the run's empty default config dir, plus `extra`. */
export function testEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string> = { PATH: process.env.PATH!, MAIL_CONFIG: TEST_MAIL_CONFIG };
  // Under `npm run mutation` the mutant a process runs is chosen by this variable: a program
  // the test starts must run the same mutant, or its tests could never kill it.
  const mutant = process.env.__STRYKER_ACTIVE_MUTANT__;
  if (mutant !== undefined) env.__STRYKER_ACTIVE_MUTANT__ = mutant;
  for (const [name, value] of Object.entries(extra)) if (value !== undefined) env[name] = value;
  return env;
}
