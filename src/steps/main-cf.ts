import { join } from "node:path";
import { UserError } from "../errors.ts";
import type { DnsblLines } from "./dnsbl.ts";
import { readTextIfExists, settleMtime, writeIfChanged } from "./files.ts";

// main.cf is mailcow's file up to the first line containing "Overrides"; everything after it
// is generated on each start. Without that marker mailcow's script appends again and again, so
// main.cf grows on every restart: here it is refused instead.

export const OVERRIDES_MARKER = "Overrides";

/** The text up to and including the first line containing the marker, or undefined. Pure. */
export function headThroughMarker(mainCf: string): string | undefined {
  const lines = mainCf.split("\n");
  const index = lines.findIndex((line) => line.includes(OVERRIDES_MARKER));
  if (index === -1) return undefined;
  return `${lines.slice(0, index + 1).join("\n")}\n`;
}

/** The complete new main.cf, byte for byte what mailcow's script produces from the same input. Pure. */
export function renderMainCf(head: string, dnsbl: DnsblLines, extraCf: string): string {
  const blocklists = dnsbl.sites ? `${dnsbl.sites}\n${dnsbl.spamhaus}\n` : "";
  return `${head}\n${blocklists}\n# User Overrides\n${extraCf}`;
}

export function writeMainCf(confDir: string, dnsbl: DnsblLines, extraCf: string): void {
  const path = join(confDir, "main.cf");
  const current = readTextIfExists(path);
  if (current === undefined) throw new UserError(`${path} does not exist; mailcow's main.cf must be in the conf dir`);
  const head = headThroughMarker(current);
  if (head === undefined) {
    throw new UserError(
      `${path} has no line containing "${OVERRIDES_MARKER}" (mailcow's "# Overrides #" marker); refusing to append to it, ` +
        `which would make it grow on every start. Restore the marker line from mailcow's main.cf, with your own settings moved to extra.cf`,
    );
  }
  if (writeIfChanged(path, renderMainCf(head, dnsbl, extraCf), { preserve: true })) settleMtime(path);
}
