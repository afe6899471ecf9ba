import { chmodSync, chownSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { extractTemplates } from "../../src/templates/extract.ts";
import { makeCertificate, makeCertificateDirectory, type MadeCertificate } from "./certs.ts";
import { writeLivedInConf } from "./lived-in.ts";

// A tree laid out like mailcow's Postfix container under ROOT: /opt/postfix/conf (a lived-in
// install's conf dir, see lived-in.ts), /etc/ssl/mail (default pair + one
// certificate directory), /var/spool/postfix, /var/lib/postfix, /var/run/mysqld, /etc/aliases
// and the templates extracted from the fixture script. `prefix` is what the config files call
// the root: "" inside the end-to-end namespace (where ROOT is bind-mounted over /), ROOT otherwise.

/** MPI_UPSTREAM_SCRIPT: run the suites against another upstream-shaped script, e.g. a fetched
 * mailcow postfix.sh before its fingerprint joins src/templates/known-bases.json (kept outside the repo). */
export const FIXTURE_SCRIPT = process.env.MPI_UPSTREAM_SCRIPT || join(import.meta.dir, "..", "fixtures", "upstream-postfix.sh");
export const HOSTNAME = "mail.example.test";

export interface ContainerRoot {
  root: string;
  /** Paths as the code under test sees them (with the prefix). */
  confDir: string;
  sslDir: string;
  spoolDir: string;
  mysqlDir: string;
  aliasesFile: string;
  templatesFile: string;
  logFile: string;
  defaultCert: MadeCertificate;
  otherCert: MadeCertificate;
  /** Flags for `start` pointing at this tree (only needed outside the namespace); the database socket is each run's own. */
  startFlags: string[];
}

export function buildContainerRoot(root: string, options: { prefix: string; smtpListen?: string }): ContainerRoot {
  const at = (path: string) => join(root, path);
  const p = (path: string) => `${options.prefix}${path}`;
  for (const dir of ["opt/postfix/conf", "etc/ssl/mail", "var/spool/postfix", "var/lib/postfix", "var/run/mysqld", "usr/local/share"]) {
    mkdirSync(at(dir), { recursive: true });
  }
  chmodSync(root, 0o755);
  chownSync(at("var/lib/postfix"), postfixUid(), -1);
  const defaultCert = makeCertificate(at("etc/ssl/mail"), { names: [HOSTNAME, "example.test"] });
  const otherCert = makeCertificateDirectory(at("etc/ssl/mail"), "other.example.test", ["other.example.test", "www.other.example.test"]);
  writeLivedInConf(at("opt/postfix/conf"), {
    root: options.prefix,
    listen: options.smtpListen ?? "127.0.0.1",
    // Inside the namespace /var/log is the host's: log into the bind-mounted data dir.
    maillogDir: p("/var/lib/postfix"),
  });
  const templates = extractTemplates(readFileSync(FIXTURE_SCRIPT, "utf8"), FIXTURE_SCRIPT);
  writeFileSync(at("usr/local/share/templates.json"), JSON.stringify(templates));
  const tree = {
    root,
    confDir: p("/opt/postfix/conf"),
    sslDir: p("/etc/ssl/mail"),
    spoolDir: p("/var/spool/postfix"),
    mysqlDir: p("/var/run/mysqld"),
    aliasesFile: p("/etc/aliases"),
    templatesFile: p("/usr/local/share/templates.json"),
    logFile: at("var/lib/postfix/mail.log"),
    defaultCert,
    otherCert,
  };
  return {
    ...tree,
    startFlags: [
      `--conf-dir=${tree.confDir}`,
      `--ssl-dir=${tree.sslDir}`,
      `--spool-dir=${tree.spoolDir}`,
      `--aliases-file=${tree.aliasesFile}`,
      `--templates=${tree.templatesFile}`,
    ],
  };
}

/** `flags` (`--name=value` words) with those `overrides` names replaced: a flag may be given once. */
export function withFlags(flags: readonly string[], overrides: readonly string[]): string[] {
  const name = (flag: string) => flag.split("=")[0];
  const replaced = new Set(overrides.map(name));
  return [...flags.filter((flag) => !replaced.has(name(flag))), ...overrides];
}

function postfixUid(): number {
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((entry) => entry.startsWith("postfix:"));
  if (!line) throw new Error("no postfix user: install Debian's postfix package");
  return Number(line.split(":")[2]);
}
