import type { MapEntry, ValidatedSource } from "../sni/types.ts";
import { expiryOf, type KeptPair } from "./last-good.ts";

// A renewal that stopped (the acme container down, DNS changed, a rate limit) is silent until
// clients refuse the certificate. mailcow's acme container renews 30 days ahead, so a mapped
// certificate 14 days from expiry means renewal has stopped for two weeks: the watcher says so
// at start and once a day, one line per certificate naming every name it is served for, while
// there is still time to act.

export const EXPIRY_REPORT_DAYS = 14;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface ExpiringCertificate {
  /** The source whose certificate is served (a certificate directory, or the SSL dir for the default pair). */
  sourceDir: string;
  /** Every mapped name served this certificate, sorted. */
  names: string[];
  /** Earliest notAfter of the pairs the served value holds (ms since the epoch). */
  expiresAt: number;
  /** Whether it is the last good pair kept in place of broken files (last-good.ts). */
  kept: boolean;
}

/** The mapped certificates that expire within `days` of `now` (expired ones included), soonest first. Pure. */
export function expiringCertificates(
  entries: readonly MapEntry[],
  sources: readonly ValidatedSource[],
  kept: ReadonlyMap<string, KeptPair>,
  held: readonly string[],
  now: number,
  days = EXPIRY_REPORT_DAYS,
): ExpiringCertificate[] {
  const expiry = new Map<string, { at: number; kept: boolean }>();
  for (const validated of sources) if (validated.usable) expiry.set(validated.source.dir, { at: expiryOf(validated), kept: false });
  for (const dir of held) {
    const pair = kept.get(dir);
    if (pair) expiry.set(dir, { at: pair.expiresAt, kept: true });
  }
  const bySource = new Map<string, ExpiringCertificate>();
  for (const entry of entries) {
    const served = expiry.get(entry.sourceDir);
    if (!served || !Number.isFinite(served.at) || served.at - now >= days * DAY_MS) continue;
    let found = bySource.get(entry.sourceDir);
    if (!found) {
      found = { sourceDir: entry.sourceDir, names: [], expiresAt: served.at, kept: served.kept };
      bySource.set(entry.sourceDir, found);
    }
    found.names.push(entry.name);
  }
  const list = [...bySource.values()];
  for (const item of list) item.names.sort();
  return list.sort((a, b) => a.expiresAt - b.expiresAt || a.sourceDir.localeCompare(b.sourceDir));
}

/** One line per certificate: its names, the day it expires, how far away that is. Pure. */
export function expiryLine(item: ExpiringCertificate, now: number): string {
  const day = new Date(item.expiresAt).toISOString().slice(0, 10);
  const left = item.expiresAt - now;
  const when = left <= 0 ? `expired on ${day}` : `expires on ${day} (in ${Math.floor(left / DAY_MS)} days)`;
  const what = item.kept ? "the last good certificate kept for" : "the certificate for";
  return `watch: ${what} ${item.names.join(", ")} ${when}: ${item.sourceDir}; renew it before clients refuse it (mailcow's acme container renews 30 days ahead)`;
}
