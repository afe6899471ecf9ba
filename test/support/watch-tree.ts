import { expect } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { createMemoryLogger } from "../../src/log.ts";
import type { ApplyOptions } from "../../src/watch/apply.ts";
import { makeCertificate, makeCertificateDirectory, type MadeCertificate } from "./certs.ts";
import { testTools } from "./postfix-tools.ts";
import { makeTempDir, writeSettledFile } from "./tmp.ts";

/**
 * A tree for the watcher's in-process tests: an SSL dir with the default pair
 * (mail.example.test) and a.example.test, a conf dir with an empty main.cf (unless `confDir`
 * is false: the test makes it), and the apply options over them with a `postfix reload`
 * stand-in that records the conf dir it was called for.
 */
export function makeWatchTree(prefix: string, confDir = true) {
  const temp = makeTempDir(prefix);
  const sslDir = join(temp.path, "ssl");
  const conf = join(temp.path, "conf");
  if (confDir) {
    mkdirSync(conf);
    writeSettledFile(join(conf, "main.cf"), "");
  }
  makeCertificate(sslDir, { names: ["mail.example.test"] });
  const a: MadeCertificate = makeCertificateDirectory(sslDir, "a.example.test", ["a.example.test"]);
  const log = createMemoryLogger();
  const reloads: string[] = [];
  const options: ApplyOptions = {
    tools: testTools(),
    sslDir,
    confDir: conf,
    hostname: "mail.example.test",
    log,
    lockTimeoutMs: 5_000,
    reload: async (dir) => void reloads.push(dir),
  };
  return { temp, sslDir, confDir: conf, log, reloads, options, a };
}

/** Until `condition` holds (checked every 20 ms), at most `ms`; then it is asserted. */
export async function until(condition: () => boolean, ms = 10_000): Promise<void> {
  const since = Date.now();
  while (!condition() && Date.now() - since < ms) await Bun.sleep(20);
  expect(condition()).toBe(true);
}

/** The apply lines among a watcher's log lines. */
export const applyLines = (lines: readonly string[]) => lines.filter((line) => /watch: (applied|checked) in /.test(line));
