import type { CommandContext, FlagSpec } from "../command.ts";
import { stringFlag } from "../command.ts";
import { UserError } from "../errors.ts";
import { DEFAULT_TEMPLATES_PATH } from "../templates/load.ts";
import { DEFAULT_UNVERIFIED_BASE_FILE } from "../templates/verify.ts";
import { DEFAULT_BASE_IMAGE_FILE, DEFAULT_MAILCOW_COMPOSE_FILE } from "./base-image.ts";
import type { StartPaths } from "./context.ts";

// Every container path is a flag with an MPI_ environment variable, defaulting to where the
// container has it, so tests and odd setups can point the binary at another root.

const dir = (description: string, env: string, fallback: string, valueName = "DIR"): FlagSpec => ({
  type: "string",
  description,
  env,
  default: fallback,
  valueName,
});

export const CONF_DIR_FLAG = dir("Postfix config dir (main.cf, sql/, sni.map)", "MPI_CONF_DIR", "/opt/postfix/conf");
/** No default in the spec: cache.ts's cacheFileFor decides (the spool volume in a mailcow container). */
export const CACHE_FILE_FLAG: FlagSpec = {
  type: "string",
  valueName: "FILE",
  env: "MPI_CACHE_FILE",
  description: "Validation cache (default: SPOOL/.mailcow-postfix-init/sni-validation-cache.json with the default conf dir, else none)",
};
export const SSL_DIR_FLAG = dir("Certificates written by mailcow's acme container", "MPI_SSL_DIR", "/etc/ssl/mail");

export const START_FLAGS: Record<string, FlagSpec> = {
  "conf-dir": CONF_DIR_FLAG,
  "cache-file": CACHE_FILE_FLAG,
  "ssl-dir": SSL_DIR_FLAG,
  "spool-dir": dir("Postfix queue dir", "MPI_SPOOL_DIR", "/var/spool/postfix"),
  "mysql-socket": dir("MariaDB socket", "MPI_MYSQL_SOCKET", "/var/run/mysqld/mysqld.sock", "PATH"),
  "aliases-file": dir("Aliases file written from mailcow's template", "MPI_ALIASES_FILE", "/etc/aliases", "FILE"),
  templates: dir("Templates extracted at image build (`templates extract`)", "MPI_TEMPLATES", DEFAULT_TEMPLATES_PATH, "FILE"),
  "wait-timeout": { type: "string", description: "Give up waiting for the database/DNS after this many seconds (default: wait forever)", env: "MPI_WAIT_TIMEOUT", valueName: "SECONDS" },
  "dns-probe-name": { type: "string", description: "Name resolved to decide DNS is up", env: "MPI_DNS_PROBE_NAME", default: "mailcow.email", valueName: "NAME" },
  "dns-server": { type: "string", description: "Resolver to query instead of /etc/resolv.conf's", env: "MPI_DNS_SERVER", valueName: "HOST[:PORT]" },
  "base-image-file": dir("The mailcow postfix image this image was built from (written by Dockerfile.postfix)", "MPI_BASE_IMAGE_FILE", DEFAULT_BASE_IMAGE_FILE, "FILE"),
  "mailcow-compose-file": dir("mailcow's docker-compose.yml, mounted read-only by the override, to notice a newer postfix image", "MPI_MAILCOW_COMPOSE_FILE", DEFAULT_MAILCOW_COMPOSE_FILE, "FILE"),
  "unverified-base-file": dir("Written by the image build when MPI_ACCEPT_UNVERIFIED_BASE accepted an unknown base (`templates verify`)", "MPI_UNVERIFIED_BASE_FILE", DEFAULT_UNVERIFIED_BASE_FILE, "FILE"),
  "asn-check-url": { type: "string", description: "Service saying whether this network may use the open Spamhaus lists", env: "MPI_ASN_CHECK_URL", default: "https://asn-check.mailcow.email", valueName: "URL" },
};

export interface StartOptions {
  paths: StartPaths;
  templatesFile: string;
  baseImage: { builtFromFile: string; composeFile: string; unverifiedFile: string };
  waitTimeoutMs?: number;
  dnsProbeName: string;
  dnsServer?: string;
  asnCheckUrl: string;
}

export function resolveStartOptions(context: CommandContext): StartOptions {
  const timeout = context.flags["wait-timeout"];
  let waitTimeoutMs: number | undefined;
  if (typeof timeout === "string" && timeout !== "") {
    const seconds = Number(timeout);
    if (!Number.isFinite(seconds) || seconds <= 0) {
      throw new UserError(`--wait-timeout / MPI_WAIT_TIMEOUT: expected a positive number of seconds, got \`${timeout}\``);
    }
    waitTimeoutMs = seconds * 1000;
  }
  const dnsServer = context.flags["dns-server"];
  return {
    paths: {
      confDir: stringFlag(context, "conf-dir"),
      sslDir: stringFlag(context, "ssl-dir"),
      spoolDir: stringFlag(context, "spool-dir"),
      mysqlSocket: stringFlag(context, "mysql-socket"),
      aliasesFile: stringFlag(context, "aliases-file"),
    },
    templatesFile: stringFlag(context, "templates"),
    baseImage: {
      builtFromFile: stringFlag(context, "base-image-file"),
      composeFile: stringFlag(context, "mailcow-compose-file"),
      unverifiedFile: stringFlag(context, "unverified-base-file"),
    },
    waitTimeoutMs,
    dnsProbeName: stringFlag(context, "dns-probe-name"),
    dnsServer: typeof dnsServer === "string" && dnsServer !== "" ? dnsServer : undefined,
    asnCheckUrl: stringFlag(context, "asn-check-url"),
  };
}
