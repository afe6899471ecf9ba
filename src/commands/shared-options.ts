import type { StartVariable } from "../env.ts";
import type { Logger } from "../log.ts";
import type { BooleanOption, SecondsOption, StringOption } from "../options.ts";

// Options several commands share. Every container path is a flag with an MPI_ environment
// variable, defaulting to where the container has it, so tests and odd setups can point the
// binary at another root. Declarations only: every run loads them (command.ts).

type WithDefault<O> = O & { default: string };

/** A path option with an MPI_ variable and the container's path as default. */
export function pathOption(description: string, env: string, fallback: string, valueName = "DIR"): WithDefault<StringOption> {
  return { type: "string", description, env, default: fallback, valueName };
}

/** Where the image keeps the templates extracted at build time (start reads them, `templates extract` writes them). */
export const DEFAULT_TEMPLATES_PATH = "/usr/local/share/mailcow-postfix-init/templates.json";
/** Written by `templates verify` when MPI_ACCEPT_UNVERIFIED_BASE accepted an unknown base; read by every start. */
export const DEFAULT_UNVERIFIED_BASE_FILE = "/usr/local/share/mailcow-postfix-init/unverified-base.json";

export const CONF_DIR_OPTION = pathOption("Postfix config dir (main.cf, sql/, sni.map)", "MPI_CONF_DIR", "/opt/postfix/conf");
export const SSL_DIR_OPTION = pathOption("Certificates written by mailcow's acme container", "MPI_SSL_DIR", "/etc/ssl/mail");
/** No default here: sni/cache.ts's cacheFileFor decides (the spool volume in a mailcow container). */
export const CACHE_FILE_OPTION: StringOption = {
  type: "string",
  valueName: "FILE",
  env: "MPI_CACHE_FILE",
  description: "Validation cache (default: SPOOL/.mailcow-postfix-init/sni-validation-cache.json with the default conf dir, else none)",
};
export const HOSTNAME_OPTION: StringOption = {
  type: "string",
  valueName: "NAME",
  env: "MAILCOW_HOSTNAME",
  description: "Mail server hostname, mapped to the default certificate",
};
export const LOCK_TIMEOUT_OPTION: WithDefault<SecondsOption> = {
  type: "seconds",
  env: "MPI_LOCK_TIMEOUT",
  default: "120",
  allowZero: true,
  description: "Give up when another run still writes in the conf dir after this long (0: do not wait)",
};
/** Postfix's own variable: its tools read it too, so it is not a flag of ours. */
export const MAIL_CONFIG_OPTION: WithDefault<StringOption> = {
  type: "string",
  valueName: "DIR",
  env: "MAIL_CONFIG",
  envOnly: true,
  default: "/etc/postfix",
  description: "Postfix's default config dir: postmap and postalias run with it when it has a main.cf",
};
export const DRY_RUN_OPTION: BooleanOption = {
  type: "boolean",
  description: "Print the map as it would be written; change nothing on disk",
};

/** The --hostname flag (or MAILCOW_HOSTNAME); the SNI engine normalizes and validates it. */
export function hostnameOrWarn(hostname: string | undefined, log: Logger): string | undefined {
  if (hostname !== undefined) return hostname;
  log.warn("no hostname given (--hostname or MAILCOW_HOSTNAME); the default certificate is mapped for its own names only");
  return undefined;
}

/** What each variable of mailcow's that a command reads is for, for its --help (env.ts validates them). */
export const MAILCOW_VARIABLES = {
  DBNAME: "mailcow's database name, written into the SQL maps (required)",
  DBUSER: "Its user (required)",
  DBPASS: "Its password (required; never logged, never passed on to Postfix)",
  MAILCOW_HOSTNAME: "The mail server's name: myhostname, and mapped to the default certificate (required)",
  SPAMHAUS_DQS_KEY: "Spamhaus DQS key: the DQS blocklists instead of the open ones",
  REDIS_SLAVEOF_IP: "Set when mailcow's Redis is a replica: the entrypoint picks syslog-ng's config for it",
  SKIP_LETS_ENCRYPT: "Accepted and logged; the default certificate is mapped either way",
} as const satisfies Record<StartVariable, string>;
