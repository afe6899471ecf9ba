import { updateSniMap } from "../sni/index.ts";
import type { Logger } from "../log.ts";

/** sni.map(.db) through the SNI engine (default certificate always mapped). */
export async function buildSniMap(options: { sslDir: string; confDir: string; hostname: string; log: Logger; cacheFile?: string }): Promise<void> {
  await updateSniMap(options);
}
