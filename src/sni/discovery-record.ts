import { join } from "node:path";
import { DEFAULT_CERT, DEFAULT_KEY, type Discovery, DOMAINS_FILE, ECDSA_CERT, ECDSA_KEY, pairIn } from "./discover.ts";
import type { CertificateSource } from "./types.ts";

// Discovery's result as the run record keeps it (run-record.ts): every path a source names
// follows from the SSL dir and the directory's name (discover.ts lays them out), so a source is
// kept as its directory's name, its domains text and two flags, a fifth of its full form at
// thousands of directories. The identities discovery depended on are kept beside it.

export interface RecordedDiscovery {
  problems: Discovery["problems"];
  notes: string[];
  /** [directory name, domains text, has an ecdsa pair, domains resolves outside]; "" for the default pair. */
  sources: [string, string, 0 | 1, 0 | 1][];
}

export function recordDiscovery(discovery: Discovery): RecordedDiscovery {
  // The default pair's directory is the SSL dir itself: its name is "".
  const sources = discovery.sources.map((source): [string, string, 0 | 1, 0 | 1] => [
    source.dir.slice(discovery.sslDir.length + 1),
    source.domainsText ?? "",
    source.ecdsa ? 1 : 0,
    source.domainsOutside ? 1 : 0,
  ]);
  return { problems: discovery.problems, notes: discovery.notes, sources };
}

/** The Discovery a record holds, for SSL_DIR, with the identities it depended on (OBSERVED). */
export function recordedDiscovery(recorded: RecordedDiscovery, sslDir: string, observed: Record<string, string>): Discovery {
  const sources = recorded.sources.map(([name, domainsText, ecdsa, outside]): CertificateSource => {
    if (name === "") {
      return {
        kind: "default",
        dir: sslDir,
        main: pairIn(sslDir, DEFAULT_KEY, DEFAULT_CERT),
        ecdsa: ecdsa ? pairIn(sslDir, ECDSA_KEY, ECDSA_CERT) : undefined,
      };
    }
    const dir = join(sslDir, name);
    return {
      kind: "directory",
      dir,
      main: pairIn(dir, DEFAULT_KEY, DEFAULT_CERT),
      ecdsa: ecdsa ? pairIn(dir, ECDSA_KEY, ECDSA_CERT) : undefined,
      domainsFile: join(dir, DOMAINS_FILE),
      domainsText,
      domainsOutside: outside ? true : undefined,
    };
  });
  return { sslDir, sources, problems: recorded.problems, notes: recorded.notes, observed };
}
