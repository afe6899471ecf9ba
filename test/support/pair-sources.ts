import { afterAll, beforeAll } from "bun:test";
import { copyFileSync, mkdirSync, utimesSync } from "node:fs";
import { join } from "node:path";
import type { CertificateSource } from "../../src/sni/types.ts";
import { type CertificateOptions, makeCertificate } from "./certs.ts";
import { makeTempDir } from "./tmp.ts";

/**
 * Certificate sources for tests of one source's read (validate.ts): the PAIRS are made once
 * (before the file's tests, with the openssl CLI) in a pairs directory; each `directory()` is a
 * new source directory holding copies of some of them, dated a minute back unless `young`.
 * Everything is removed after the file's tests.
 */
export function pairSources(prefix: string, pairs: CertificateOptions[]) {
  const temp = makeTempDir(prefix);
  const pairDir = join(temp.path, "pairs");
  let count = 0;
  beforeAll(() => {
    for (const options of pairs) makeCertificate(pairDir, options);
  });
  afterAll(() => temp.cleanup());
  return {
    /** The path of a pair file made above. */
    pairFile: (name: string) => join(pairDir, name),
    /** A directory source (cert.pem, key.pem) holding FILES (name in the source: name of a pair file). */
    directory(files: Record<string, string> = { "cert.pem": "cert.pem", "key.pem": "key.pem" }, young = false): CertificateSource {
      const dir = join(temp.path, `d${++count}`);
      mkdirSync(dir);
      const past = new Date(Date.now() - 60_000);
      for (const [name, from] of Object.entries(files)) {
        copyFileSync(join(pairDir, from), join(dir, name));
        if (!young) utimesSync(join(dir, name), past, past);
      }
      return {
        kind: "directory",
        dir,
        main: { keyFile: join(dir, "key.pem"), certFile: join(dir, "cert.pem") },
        domainsFile: join(dir, "domains"),
        domainsText: "a.test",
      };
    },
  };
}
