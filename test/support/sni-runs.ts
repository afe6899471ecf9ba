import { expect } from "bun:test";
import { join } from "node:path";
import { fileIdentity } from "../../src/file-identity.ts";
import { createMemoryLogger } from "../../src/log.ts";
import { runRecordFileFor } from "../../src/sni/run-record.ts";
import { updateSniMap } from "../../src/sni/update.ts";
import { mailTrees } from "./fixture.ts";
import { testTools } from "./postfix-tools.ts";

// sni-map's runs as a container makes them (src/sni/update.ts with a cache file, real postmap),
// for the tests of the run record (run-record.ts): whether a run replayed the last one, and
// what the table it left maps.

export const UNCHANGED = "(unchanged: no certificate, key or map file changed since sni.map.db was built)";

export type SettledTree = ReturnType<ReturnType<typeof mailTrees>> & { cacheFile: string };

/** A factory of mail trees (temp dirs named PREFIX, removed after the test file) and of runs on them. */
export function sniRuns(prefix: string) {
  const mailTree = mailTrees(prefix);

  /** A tree whose files are older than the record's racy margin (50 ms). */
  async function settledTree(
    certificateDirs: Record<string, string[]> = { "other.example.test": ["other.example.test"] },
  ): Promise<SettledTree> {
    const tree = mailTree({ certificateDirs });
    await Bun.sleep(120);
    return { ...tree, cacheFile: join(tree.root, "spool", "cache.json") };
  }

  /**
   * updateSniMap as a container runs it. `replayed`: the run logged the recorded lines and did no
   * work (the record is left as it was; a run that does its work records itself anew).
   */
  async function run(tree: SettledTree, options: { hostname?: string; now?: Date; cacheFile?: string | null } = {}) {
    const log = createMemoryLogger();
    const cacheFile = options.cacheFile === null ? undefined : (options.cacheFile ?? tree.cacheFile);
    const record = runRecordFileFor(cacheFile);
    const before = record === undefined ? "" : fileIdentity(record);
    await updateSniMap({
      tools: testTools(),
      sslDir: tree.sslDir,
      confDir: tree.confDir,
      hostname: options.hostname ?? "mail.example.test",
      log,
      cacheFile,
      now: options.now,
    });
    const replayed = before !== "" && fileIdentity(record!) === before;
    if (replayed) expect(log.lines.at(-1)!.endsWith(UNCHANGED)).toBe(true);
    return { lines: log.lines, replayed };
  }

  return { settledTree, run };
}

/** The certificate the table (CONF/sni.map's, or MAP's) embeds for NAME (the chain half of the value), or undefined. */
export function embeddedCertificate(confDir: string, name: string, map = join(confDir, "sni.map")): string | undefined {
  const query = Bun.spawnSync(["postmap", "-c", confDir, "-q", name, `hash:${map}`]);
  if (query.exitCode !== 0) return undefined;
  const value = Buffer.from(query.stdout.toString().trim(), "base64").toString();
  return value.slice(value.indexOf("-----BEGIN CERTIFICATE-----"));
}
