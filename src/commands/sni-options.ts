import type { CommandContext, FlagSpec } from "../command.ts";
import { cacheFileFor } from "../sni/cache.ts";

// Flags shared by every command that reads the certificate tree (sni-map, check, reload).

export { CACHE_FILE_FLAG, CONF_DIR_FLAG, SSL_DIR_FLAG } from "../steps/flags.ts";
export const HOSTNAME_FLAG: FlagSpec = { type: "string", valueName: "NAME", env: "MAILCOW_HOSTNAME", description: "Mail server hostname, mapped to the default certificate" };

/** The validation cache for this run: --cache-file (or MPI_CACHE_FILE), else cache.ts's default for CONF. */
export function cacheFileFromFlags(context: CommandContext, confDir: string, spoolDir?: string): string | undefined {
  const requested = context.flags["cache-file"];
  return cacheFileFor(confDir, typeof requested === "string" ? requested : undefined, spoolDir);
}

/** The --hostname flag (or MAILCOW_HOSTNAME); the SNI engine normalizes and validates it. */
export function hostnameFromFlags(context: CommandContext): string | undefined {
  const raw = context.flags.hostname;
  if (typeof raw === "string" && raw !== "") return raw;
  context.log.warn("no hostname given (--hostname or MAILCOW_HOSTNAME); the default certificate is mapped for its own names only");
  return undefined;
}
