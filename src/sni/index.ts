// Public face of the SNI engine, used by `sni-map`, `check`, `reload` and `start`.
import type { Logger } from "../log.ts";
import type { MapEntry, Problem, ValidatedSource } from "./types.ts";

export interface SniMapOptions {
  sslDir: string;
  confDir: string;
  /** MAILCOW_HOSTNAME; mapped to the default certificate. */
  hostname?: string;
  now?: Date;
  log: Logger;
}

export interface SniMapResult {
  /** sni.map exactly as written (or as it would be written). */
  content: string;
  entries: MapEntry[];
  sources: ValidatedSource[];
  problems: Problem[];
}

/** Discover, validate and plan the map without touching disk (used by check and --dry-run). */
export declare function planSniMapFromTree(options: Omit<SniMapOptions, "log" | "confDir">): SniMapResult;

/**
 * Build CONF/sni.map and CONF/sni.map.db (postmap -F) atomically, mode 0600, logging each
 * problem once and one summary line. Throws UserError when the map cannot be written;
 * the previous sni.map and sni.map.db then stay in place.
 */
export declare function updateSniMap(options: SniMapOptions): Promise<SniMapResult>;
