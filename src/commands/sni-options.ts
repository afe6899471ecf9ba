import type { CommandContext, FlagSpec } from "../command.ts";
import { UserError } from "../errors.ts";
import { normalizeHostname } from "../sni/names.ts";

// Flags shared by every command that reads the certificate tree.

export const SSL_DIR_FLAG: FlagSpec = { type: "string", valueName: "DIR", env: "MPI_SSL_DIR", default: "/etc/ssl/mail", description: "Certificate tree (default pair + one directory per certificate)" };
export const CONF_DIR_FLAG: FlagSpec = { type: "string", valueName: "DIR", env: "MPI_CONF_DIR", default: "/opt/postfix/conf", description: "Postfix config dir receiving sni.map and sni.map.db" };
export const HOSTNAME_FLAG: FlagSpec = { type: "string", valueName: "NAME", env: "MAILCOW_HOSTNAME", description: "Mail server hostname, mapped to the default certificate" };

/** The --hostname flag (or MAILCOW_HOSTNAME) as a map key; a bad value is the admin's to fix. */
export function hostnameFromFlags(context: CommandContext): string | undefined {
  const raw = context.flags.hostname;
  const normalized = normalizeHostname(typeof raw === "string" ? raw : undefined);
  if (normalized === undefined) {
    context.log.warn("no hostname given (--hostname or MAILCOW_HOSTNAME); the default certificate is mapped for its own names only");
    return undefined;
  }
  if (!normalized.ok) {
    throw new UserError(`hostname ${JSON.stringify(raw)} (--hostname or MAILCOW_HOSTNAME) is not a valid DNS name: ${normalized.reason}; set MAILCOW_HOSTNAME in mailcow.conf to the server's FQDN`);
  }
  return normalized.name;
}
