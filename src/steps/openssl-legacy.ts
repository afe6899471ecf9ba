import { join } from "node:path";
import type { Logger } from "../log.ts";
import { readTextIfExists, writeIfChanged } from "./files.ts";

// Admins who allow TLSv1/1.1 in main.cf or extra.cf need OpenSSL 3's security level lowered
// system-wide (mailcow community thread 4062). mailcow's entrypoint appends the section on every
// container start, so a restarted container gets it twice; here it is applied once.

const LEGACY_PROTOCOL_SETTING = /!SSLv2|!SSLv3|>=TLSv1(\.[01])?$/m;
const SECTION_HEADER = "[ssl_configuration]";
const SSL_CONF_LINE = "ssl_conf = ssl_configuration";
const LEGACY_SECTIONS = `${SECTION_HEADER}\nsystem_default = tls_system_default\n[tls_system_default]\nMinProtocol = TLSv1\nCipherString = DEFAULT@SECLEVEL=0\n`;

/** Whether a Postfix config text allows the old protocols. Pure. */
export function wantsLegacyTls(postfixConfig: string): boolean {
  return LEGACY_PROTOCOL_SETTING.test(postfixConfig);
}

/** openssl.cnf with the legacy section, or the same text when it already has it. Pure. */
export function withLegacyTls(cnf: string): string {
  if (cnf.split("\n").some((line) => line.trim() === SECTION_HEADER)) return cnf;
  const lines = cnf.split("\n");
  const init = lines.findIndex((line) => line.trim() === "[openssl_init]");
  if (init !== -1) lines.splice(init + 1, 0, SSL_CONF_LINE);
  const text = lines.join("\n");
  return `${text}${text === "" || text.endsWith("\n") ? "" : "\n"}${LEGACY_SECTIONS}`;
}

export function applyLegacyTls(confDir: string, opensslCnf: string, log: Logger): void {
  const postfixConfig = ["main.cf", "extra.cf"].map((name) => readTextIfExists(join(confDir, name)) ?? "").join("\n");
  if (!wantsLegacyTls(postfixConfig)) return;
  const current = readTextIfExists(opensslCnf);
  if (current === undefined) {
    log.warn(`Postfix allows TLSv1/TLSv1.1 but ${opensslCnf} does not exist; not lowering OpenSSL's security level`);
    return;
  }
  if (writeIfChanged(opensslCnf, withLegacyTls(current), { preserve: true })) {
    log.info(`${opensslCnf}: enabled TLSv1/TLSv1.1 (MinProtocol TLSv1, SECLEVEL 0) because Postfix allows them`);
  }
}
