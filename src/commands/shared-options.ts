import type { Logger } from "../log.ts";
import type { BooleanOption, SecondsOption, StringOption } from "../options.ts";
import { cacheFileFor } from "../sni/cache.ts";

// Options several commands share. Every container path is a flag with an MPI_ environment
// variable, defaulting to where the container has it, so tests and odd setups can point the
// binary at another root.

type WithDefault<O> = O & { default: string };

/** A path option with an MPI_ variable and the container's path as default. */
export function pathOption(description: string, env: string, fallback: string, valueName = "DIR"): WithDefault<StringOption> {
  return { type: "string", description, env, default: fallback, valueName };
}

export const CONF_DIR_OPTION = pathOption("Postfix config dir (main.cf, sql/, sni.map)", "MPI_CONF_DIR", "/opt/postfix/conf");
export const SSL_DIR_OPTION = pathOption("Certificates written by mailcow's acme container", "MPI_SSL_DIR", "/etc/ssl/mail");
/** No default here: cacheFileFor decides (the spool volume in a mailcow container). */
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

/** The validation cache for this run: --cache-file (or MPI_CACHE_FILE), else cacheFileFor's default for CONF. */
export function cacheFile(options: { cacheFile?: string | undefined }, confDir: string, spoolDir?: string): string | undefined {
  return cacheFileFor(confDir, options.cacheFile, spoolDir);
}

/** The --hostname flag (or MAILCOW_HOSTNAME); the SNI engine normalizes and validates it. */
export function hostnameOrWarn(hostname: string | undefined, log: Logger): string | undefined {
  if (hostname !== undefined) return hostname;
  log.warn("no hostname given (--hostname or MAILCOW_HOSTNAME); the default certificate is mapped for its own names only");
  return undefined;
}
