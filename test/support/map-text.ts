import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "../../src/log.ts";
import type { PostfixTools } from "../../src/postfix/index.ts";
import { embeddedValue } from "../../src/sni/embedded.ts";
import type { EmbeddedValue, MapEntry } from "../../src/sni/types.ts";
import { writeSniMapFiles } from "../../src/sni/write.ts";
import { testTools } from "./postfix-tools.ts";

/**
 * Map entries for a hand-written sni.map text (`NAME KEY CHAIN ...` per line): each value is
 * the named files joined by "\n", as postmap -F joins them. Lines naming the same files share
 * one value, as the names of one certificate source do.
 */
export function entriesFromMapText(text: string): MapEntry[] {
  const values = new Map<string, EmbeddedValue>();
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => {
      const [name, ...files] = line.trim().split(/\s+/);
      const joined = files.join(" ");
      let value = values.get(joined);
      if (value === undefined) {
        value = embeddedValue(Buffer.from(files.map((file) => readFileSync(file, "utf8")).join("\n")));
        values.set(joined, value);
      }
      return { name: name!, sourceDir: "", files, value };
    });
}

/** writeSniMapFiles for a hand-written map text. */
export function writeMapText(confDir: string, text: string, log?: Logger, tools = testTools()) {
  return writeSniMapFiles(tools, confDir, text, entriesFromMapText(text), log);
}

/**
 * A postmap shim for PATH that removes the build's private copy of the values before running
 * the real postmap: what happens when files vanish mid-build (postmap skips those lines).
 */
export const POSTMAP_LOSING_ITS_FILES = `#!/bin/bash\nfor last; do :; done\nif [[ "$*" == *" -F "* ]]; then map=\${last#hash:}; rm -rf "$(dirname "$(awk 'NR==1 {print $2}' "$map")")"; fi\nexec /usr/sbin/postmap "$@"\n`;

/** Postfix's tools with a postmap shim (SCRIPT, kept in DIR/fake-bin) in place of postmap. */
export function toolsWithPostmapShim(dir: string, script: string): PostfixTools {
  const fakeBin = join(dir, "fake-bin");
  mkdirSync(fakeBin, { recursive: true });
  writeFileSync(join(fakeBin, "postmap"), script, { mode: 0o755 });
  return testTools({ programs: { postmap: join(fakeBin, "postmap") } });
}
