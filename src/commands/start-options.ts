import type { Options, StringOption } from "../options.ts";
import type { StartPaths } from "../steps/context.ts";
import {
  CACHE_FILE_OPTION,
  CONF_DIR_OPTION,
  DEFAULT_TEMPLATES_PATH,
  DEFAULT_UNVERIFIED_BASE_FILE,
  LOCK_TIMEOUT_OPTION,
  MAIL_CONFIG_OPTION,
  SSL_DIR_OPTION,
  pathOption,
} from "./shared-options.ts";

// `start`'s options: where the container keeps what it reads and writes, and how long to wait.

/** The base image this image was built from, written by Dockerfile.postfix (steps/base-image.ts). */
export const DEFAULT_BASE_IMAGE_FILE = "/usr/local/share/mailcow-postfix-init/base-image";
/** mailcow's docker-compose.yml, where docker/docker-compose.override.yml mounts it. */
export const DEFAULT_MAILCOW_COMPOSE_FILE = "/etc/mailcow-postfix-init/mailcow-compose.yml";

const valueOption = (description: string, env: string, valueName: string, fallback?: string): StringOption => ({
  type: "string",
  description,
  env,
  valueName,
  ...(fallback === undefined ? {} : { default: fallback }),
});

export const START_OPTIONS = {
  "conf-dir": CONF_DIR_OPTION,
  "cache-file": CACHE_FILE_OPTION,
  "ssl-dir": SSL_DIR_OPTION,
  "spool-dir": pathOption("Postfix queue dir", "MPI_SPOOL_DIR", "/var/spool/postfix"),
  "mysql-socket": pathOption("MariaDB socket", "MPI_MYSQL_SOCKET", "/var/run/mysqld/mysqld.sock", "PATH"),
  "aliases-file": pathOption("Aliases file written from mailcow's template", "MPI_ALIASES_FILE", "/etc/aliases", "FILE"),
  templates: pathOption("Templates extracted at image build (`templates extract`)", "MPI_TEMPLATES", DEFAULT_TEMPLATES_PATH, "FILE"),
  "wait-timeout": {
    type: "seconds",
    description: "Give up waiting for the database/DNS after this long (default: wait forever)",
    env: "MPI_WAIT_TIMEOUT",
  },
  "lock-timeout": LOCK_TIMEOUT_OPTION,
  "dns-probe-name": { ...valueOption("Name resolved to decide DNS is up", "MPI_DNS_PROBE_NAME", "NAME"), default: "mailcow.email" },
  "dns-server": valueOption("Resolver to query instead of /etc/resolv.conf's", "MPI_DNS_SERVER", "HOST[:PORT]"),
  "base-image-file": pathOption(
    "The mailcow postfix image this image was built from (written by Dockerfile.postfix)",
    "MPI_BASE_IMAGE_FILE",
    DEFAULT_BASE_IMAGE_FILE,
    "FILE",
  ),
  "mailcow-compose-file": pathOption(
    "mailcow's docker-compose.yml, mounted read-only by the override, to notice a newer postfix image",
    "MPI_MAILCOW_COMPOSE_FILE",
    DEFAULT_MAILCOW_COMPOSE_FILE,
    "FILE",
  ),
  "unverified-base-file": pathOption(
    "Written by the image build when MPI_ACCEPT_UNVERIFIED_BASE accepted an unknown base (`templates verify`)",
    "MPI_UNVERIFIED_BASE_FILE",
    DEFAULT_UNVERIFIED_BASE_FILE,
    "FILE",
  ),
  "asn-check-url": {
    ...valueOption("Service saying whether this network may use the open Spamhaus lists", "MPI_ASN_CHECK_URL", "URL"),
    default: "https://asn-check.mailcow.email",
  },
  "mail-config": MAIL_CONFIG_OPTION,
} as const;

export type StartOptions = Options<typeof START_OPTIONS>;

/** The paths every startup step receives (StepContext). */
export function startPaths(options: StartOptions): StartPaths {
  return {
    confDir: options.confDir,
    sslDir: options.sslDir,
    spoolDir: options.spoolDir,
    mysqlSocket: options.mysqlSocket,
    aliasesFile: options.aliasesFile,
  };
}
