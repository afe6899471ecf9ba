import { afterAll, expect, test } from "bun:test";
import { readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createMemoryLogger } from "../../../src/log.ts";
import { writeAliases } from "../../../src/steps/aliases.ts";
import type { StepContext } from "../../../src/steps/context.ts";
import { createCustomFiles } from "../../../src/steps/custom-files.ts";
import { extractTemplates } from "../../../src/templates/extract.ts";
import { FIXTURE_SCRIPT } from "../../support/namespace-root.ts";
import { testTools } from "../../support/postfix-tools.ts";
import { makeTempDir, writeSettledFile } from "../../support/tmp.ts";

// docs/start.md's steps for /etc/aliases (mailcow's template, then its .db with postalias,
// skipped on a restart that finds both as the last build left them) and for the files main.cf
// refers to that the admin fills in (created only when missing). Real postalias and postmap
// lookups; the templates are extracted from the fixture of mailcow's script.

const templates = extractTemplates(readFileSync(FIXTURE_SCRIPT, "utf8"), FIXTURE_SCRIPT);
/** The fixture script's aliases and postscreen access list, as its heredocs hold them. */
const ALIASES = '# fixture aliases\ndevnull: /dev/null\nrobot: /dev/null\nlearn-good: "|/usr/local/bin/fixture-learn good"\n';
const WHITELIST = "# fixture postscreen access list\n# 10.9.8.7   permit\n";
const temp = makeTempDir("mpi-start-files-");
afterAll(temp.cleanup);
let made = 0;

function context() {
  const root = join(temp.path, `c${made++}`);
  const confDir = join(root, "conf");
  Bun.spawnSync(["mkdir", "-p", confDir, join(root, "etc"), join(root, "cache")]);
  writeSettledFile(join(confDir, "main.cf"), "");
  const log = createMemoryLogger();
  const step: StepContext = {
    paths: { confDir, sslDir: "", spoolDir: "", mysqlSocket: "", aliasesFile: join(root, "etc", "aliases") },
    env: { dbName: "d", dbUser: "u", dbPass: "p", hostname: "m.example" },
    templates,
    log,
    tools: testTools(),
  };
  return { step, log, confDir, aliasesFile: step.paths.aliasesFile, cacheFile: join(root, "cache", "sni-cache.json") };
}
const identity = (path: string) => {
  const stat = statSync(path);
  return `${stat.ino}:${stat.mtimeMs}`;
};
const lookup = (step: StepContext, key: string) =>
  Bun.spawnSync(["postalias", "-c", step.paths.confDir, "-q", key, `hash:${step.paths.aliasesFile}`])
    .stdout.toString()
    .trim();

test("/etc/aliases from mailcow's template and its .db built; a restart that finds both as built skips postalias", async () => {
  const { step, log, aliasesFile, cacheFile } = context();
  await writeAliases(step, cacheFile);
  expect(readFileSync(aliasesFile, "utf8")).toBe(ALIASES);
  expect(statSync(aliasesFile).mode & 0o777).toBe(0o644);
  expect(lookup(step, "robot")).toBe("/dev/null");
  const built = identity(`${aliasesFile}.db`);
  await writeAliases(step, cacheFile);
  expect(log.lines).toEqual([`mailcow-postfix-init: postalias skipped: ${aliasesFile} and its .db are unchanged since they were built`]);
  expect(identity(`${aliasesFile}.db`)).toBe(built);
});

test("a touched .db, an edited /etc/aliases, or no record to go by: built again", async () => {
  const { step, log, aliasesFile, cacheFile } = context();
  await writeAliases(step, cacheFile);
  const past = new Date(Date.now() - 60_000);
  utimesSync(`${aliasesFile}.db`, past, past);
  await writeAliases(step, cacheFile);
  expect(log.lines).toEqual([]);
  // An admin's edit is put back to the template and built.
  const touched = identity(`${aliasesFile}.db`);
  writeFileSync(aliasesFile, "root: admin@example.test\n");
  await writeAliases(step, cacheFile);
  expect(readFileSync(aliasesFile, "utf8")).toBe(ALIASES);
  expect(identity(`${aliasesFile}.db`)).not.toBe(touched);
  expect(lookup(step, "robot")).toBe("/dev/null");
  expect(log.lines).toEqual([]);
  // Without a cache file there is no record: every start builds.
  const before = identity(`${aliasesFile}.db`);
  await writeAliases(step);
  await writeAliases(step);
  expect(log.lines).toEqual([]);
  expect(identity(`${aliasesFile}.db`)).not.toBe(before);
  // And a record left from before is not trusted after a build without one.
  await writeAliases(step, cacheFile);
  expect(log.lines).toEqual([]);
});

test("custom_transport.pcre (empty, root:postfix 0640) and custom_postscreen_whitelist.cidr (template, 0644) are created only when missing", () => {
  const { step, log, confDir } = context();
  const ids = { postfixGid: 103, postdropGid: 104 };
  createCustomFiles(step, ids);
  const transport = join(confDir, "custom_transport.pcre");
  const whitelist = join(confDir, "custom_postscreen_whitelist.cidr");
  expect(readFileSync(transport, "utf8")).toBe("");
  expect([statSync(transport).mode & 0o777, statSync(transport).uid, statSync(transport).gid]).toEqual([0o640, 0, 103]);
  expect(readFileSync(whitelist, "utf8")).toBe(WHITELIST);
  expect(statSync(whitelist).mode & 0o777).toBe(0o644);
  expect(log.lines).toEqual([`mailcow-postfix-init: creating empty ${transport}`, `mailcow-postfix-init: creating ${whitelist}`]);
  // The admin's own content stays, and nothing is said.
  writeFileSync(transport, "/^x@/ smtp:[relay.example.test]\n");
  writeFileSync(whitelist, "192.0.2.1 permit\n");
  createCustomFiles(step, ids);
  expect(readFileSync(transport, "utf8")).toBe("/^x@/ smtp:[relay.example.test]\n");
  expect(readFileSync(whitelist, "utf8")).toBe("192.0.2.1 permit\n");
  expect(log.lines).toHaveLength(2);
});
