import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run, type Engine } from "./docker.ts";
import { fingerprintOf, openssl } from "./certs.ts";
import { MAILCOW_GIT } from "./mailcow-checkout.ts";
import type { MailcowProject } from "./docker-compose.ts";
import { BannerProbe, type Availability } from "./smtp-probe.ts";
import { REPO } from "./docker-images.ts";

// A renewal as mailcow's acme container ends it, with mailcow's own code: its
// reload-configurations.sh unchanged, and the part of its acme.sh that runs it (the serials
// Postfix and Dovecot serve, read before the renewal; then, the certificate changed, the
// reload loop: reload-configurations.sh, 10 s to settle, the serials again, up to 3 rounds).
// Both are taken from MPI_MAILCOW_GIT at run time into a directory mounted as acme-mailcow's
// /srv (docker/test/whole-stack.yml). Only the renewal itself (acme-tiny and Let's Encrypt)
// is the test's: a new certificate for the same key, as mailcow's acme keeps one key.

const ACME = "data/Dockerfiles/acme";
const HELD_SESSION = readFileSync(join(REPO, "test", "support", "held-session.sh"), "utf8");

async function mailcowFile(path: string): Promise<string> {
  if (!MAILCOW_GIT) throw new Error("MPI_MAILCOW_GIT is not set");
  return (await run(["git", "-C", MAILCOW_GIT, "show", `HEAD:${path}`])).stdout;
}

/** Lines of acme.sh from the line equal to `from` up to (not including) the line equal to `to`. */
function section(text: string, from: string, to: string): string {
  const lines = text.split("\n");
  const start = lines.indexOf(from);
  const end = lines.indexOf(to, start + 1);
  if (start < 0 || end < 0) throw new Error(`mailcow's acme.sh has no section from "${from}" to "${to}": not an acme.sh this test knows`);
  return lines.slice(start, end).join("\n");
}

/**
 * Fill DIR (acme-mailcow's /srv) with mailcow's reload-configurations.sh and renewal.sh: the
 * serial reads and the reload loop of mailcow's acme.sh around the test's renewal (copying
 * /srv/renewed-cert.pem over the default certificate, as acme.sh copies the hostname's).
 */
export async function writeAcmeSrv(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "reload-configurations.sh"), await mailcowFile(`${ACME}/reload-configurations.sh`), { mode: 0o755 });
  const acme = await mailcowFile(`${ACME}/acme.sh`);
  const serials = acme
    .split("\n")
    .filter((line) => /^ {2}(POSTFIX|DOVECOT)_CERT_SERIAL(_NEW)?="\$\(echo \| openssl s_client/.test(line))
    .slice(0, 4);
  if (serials.length !== 4)
    throw new Error("mailcow's acme.sh has no serial reads of postfix:25 and dovecot:143: not an acme.sh this test knows");
  const reloadLoop = section(acme, "  # reload on new or changed certificates", '  case "$CERT_ERRORS" in');
  const driver = [
    "#!/bin/bash",
    "# Written by the update suite (test/support/mailcow-acme.ts) around lines of mailcow's acme.sh.",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a bash line; bash expands it in the container
    'grep -q " dovecot " /etc/hosts || echo "127.0.0.1 postfix dovecot dockerapi.${COMPOSE_PROJECT_NAME}_mailcow-network nginx" >> /etc/hosts',
    'log_f() { echo "acme: $1"; }',
    "REDIS_CMDLINE=true",
    "ACME_BASE=/var/lib/acme",
    ...serials,
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a bash line; bash expands it in the container
    'cp /srv/renewed-cert.pem "${ACME_BASE}/cert.pem"',
    "CERT_CHANGED=1",
    "CERT_AMOUNT_CHANGED=0",
    reloadLoop,
    "",
  ].join("\n");
  writeFileSync(join(dir, "renewal.sh"), driver, { mode: 0o755 });
  chmodSync(dir, 0o755);
}

/** A renewed default certificate: same key, same names, a new 18-byte serial as Let's Encrypt's. */
export function renewedCertificate(srvDir: string, keyFile: string, names: readonly string[]): string {
  const certFile = join(srvDir, "renewed-cert.pem");
  // 36 hex digits, the first 1: acme.sh waits for a serial of exactly that length.
  const serial = `0x1${Array.from(crypto.getRandomValues(new Uint8Array(18)), (b) => b.toString(16).padStart(2, "0"))
    .join("")
    .slice(1)}`;
  openssl([
    "req",
    "-x509",
    "-new",
    "-key",
    keyFile,
    "-out",
    certFile,
    "-days",
    "90",
    "-set_serial",
    serial,
    "-subj",
    `/CN=${names[0]}`,
    "-addext",
    `subjectAltName=${names.map((n) => `DNS:${n}`).join(",")}`,
  ]);
  return fingerprintOf(certFile);
}

export interface Renewal extends Availability {
  /** acme's renewal.sh, start to end. */
  renewalMs: number;
  /** The held session: EHLO's reply before, NOOP's on the same connection after the renewal. */
  session: string[];
  output: string;
}

/**
 * Run renewal.sh in acme-mailcow with port 25 probed every 100 ms and one SMTP session
 * (STARTTLS, EHLO) opened before and used after it (NOOP on the same connection).
 */
export async function measuredRenewal(engine: Engine, project: MailcowProject): Promise<Renewal> {
  const acme = await project.containerId("acme-mailcow");
  await engine.docker(["exec", acme, "rm", "-f", "/tmp/session-open", "/tmp/session-go"]);
  const held = engine.docker(["exec", acme, "bash", "-c", HELD_SESSION, "held", "mail.example.test"], {
    timeoutMs: 300_000,
    allowFailure: true,
  });
  for (let i = 0; (await engine.docker(["exec", acme, "test", "-e", "/tmp/session-open"], { allowFailure: true })).exitCode !== 0; i++) {
    if (i > 200) throw new Error("the held SMTP session did not open within 20 s");
    await Bun.sleep(100);
  }
  const probe = new BannerProbe(engine, `${project.name}-unbound-mailcow-1`);
  await Bun.sleep(500);
  const renewal = await engine.docker(["exec", acme, "bash", "/srv/renewal.sh"], { timeoutMs: 300_000, allowFailure: true });
  await Bun.sleep(500);
  const availability = await probe.stop();
  await engine.docker(["exec", acme, "touch", "/tmp/session-go"]);
  const session = (await held).stdout.trim().split("\n");
  if (renewal.exitCode !== 0) throw new Error(`renewal.sh exited ${renewal.exitCode}:\n${renewal.stdout}${renewal.stderr}`);
  return { ...availability, renewalMs: renewal.durationMs, session, output: renewal.stdout + renewal.stderr };
}
