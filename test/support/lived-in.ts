import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ContainerNamespace } from "./namespace.ts";
import { writeSettledFile } from "./tmp.ts";

// The conf dir of an install that has been running for a while (test/fixtures/lived-in/): main.cf
// already carries the Overrides tail a previous start appended, and the admin's extra.cf
// overrides settings main.cf's base part also sets, with other values. From then on every
// Postfix tool run with this conf dir prints "overriding earlier entry" warnings and exits 0.
// Sessions go through a milter that is not there (milter_default_action = tempfail in the base
// part, accept in extra.cf): if the override were lost, EHLO and STARTTLS would get 451.
// postscreen listens on port 25, smtpd behind it; recipient maps are proxy:mysql.

export const LIVED_IN = join(import.meta.dir, "..", "fixtures", "lived-in");

export interface LivedInOptions {
  /** Where the container's paths are: "" inside a namespace or container, a temp dir otherwise. */
  root: string;
  /** Address master.cf listens on (port 25 postscreen, 587 submission). */
  listen: string;
  /** Log to this file (maillog_file) instead of syslog. */
  maillogDir?: string;
}

/** main.cf, master.cf, extra.cf and postscreen_access.cidr of the lived-in install, into confDir. */
export function writeLivedInConf(confDir: string, options: LivedInOptions): void {
  const logging = options.maillogDir ? `maillog_file_prefixes = ${options.maillogDir}\nmaillog_file = ${options.maillogDir}/mail.log` : "";
  const mainCf = readFileSync(join(LIVED_IN, "main.cf"), "utf8")
    .replace(/^@LOGGING@$/m, logging)
    .replaceAll("@ROOT@", options.root);
  writeSettledFile(join(confDir, "main.cf"), mainCf);
  writeSettledFile(join(confDir, "master.cf"), readFileSync(join(LIVED_IN, "master.cf"), "utf8").replaceAll("@LISTEN@", options.listen));
  copyFileSync(join(LIVED_IN, "extra.cf"), join(confDir, "extra.cf"));
  copyFileSync(join(LIVED_IN, "postscreen_access.cidr"), join(confDir, "postscreen_access.cidr"));
}

/** The image's own /etc/postfix/main.cf (what Postfix tools read without -c), into dir. */
export function writeImageMainCf(dir: string): void {
  writeFileSync(join(dir, "main.cf"), readFileSync(join(LIVED_IN, "image-main.cf"), "utf8"));
}

/** The image's own main.cf into /etc/postfix inside a container-shaped namespace (its /etc is a throwaway overlay). */
export async function writeImageMainCfInside(ns: Pick<ContainerNamespace, "exec">): Promise<void> {
  const written = await ns.exec(["tee", "/etc/postfix/main.cf"], { stdin: readFileSync(join(LIVED_IN, "image-main.cf"), "utf8") });
  if (written.exitCode !== 0) throw new Error(`cannot write the image's main.cf: ${written.stderr}`);
  // As old as an image's file: Postfix tools re-read a main.cf younger than ~2 s (FACTS.md).
  const dated = await ns.exec(["touch", "-d", "@0", "/etc/postfix/main.cf"]);
  if (dated.exitCode !== 0) throw new Error(`cannot date the image's main.cf back: ${dated.stderr}`);
}

/** The setting extra.cf overrides that decides whether sessions work at all. */
export const OVERRIDDEN = { name: "milter_default_action", base: "tempfail", extra: "accept" };
