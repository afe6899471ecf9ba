import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadTemplates } from "../../../src/templates/load.ts";
import { runCli } from "../../support/cli.ts";
import { FIXTURE_SCRIPT } from "../../support/namespace-root.ts";
import { makeTempDir } from "../../support/tmp.ts";

const temp = makeTempDir("mpi-templates-");
afterAll(temp.cleanup);

describe("templates extract", () => {
  test("writes the JSON that start loads, in the documented argument order", async () => {
    const out = join(temp.path, "templates.json");
    const result = await runCli(["templates", "extract", "--from", FIXTURE_SCRIPT, `--out=${out}`]);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toBe(
      `mailcow-postfix-init: templates: 4 SQL maps, 2 discontinued DNSBL patterns from ${FIXTURE_SCRIPT} -> ${out}\n`,
    );
    expect(statSync(out).mode & 0o777).toBe(0o644);
    expect(Object.keys(loadTemplates(out).sqlMaps)).toHaveLength(4);
    const again = await runCli(["templates", "extract", "--from", FIXTURE_SCRIPT, "--out", out]);
    expect(again.exitCode).toBe(0);
  });

  test("an unexpected script shape fails (non-zero) naming what was expected, and writes nothing", async () => {
    const script = join(temp.path, "changed.sh");
    writeFileSync(script, readFileSync(FIXTURE_SCRIPT, "utf8").replace("dbname = ${DBNAME}", "dbname = $(cat /run/secrets/db)"));
    const out = join(temp.path, "never.json");
    const result = await runCli(["templates", "extract", "--from", script, "--out", out]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(
      /^mailcow-postfix-init: error: .*changed\.sh:\d+ \(\/opt\/postfix\/conf\/sql\/mysql_virtual_domains_maps\.cf\): command substitution or arithmetic/,
    );
    expect(() => statSync(out)).toThrow();
  });

  test("unreadable input, bad action and stray arguments", async () => {
    expect(
      (await runCli(["templates", "extract", "--from", join(temp.path, "none.sh"), "--out", join(temp.path, "x.json")])).stderr,
    ).toContain("cannot read");
    const bad = await runCli(["templates", "list"]);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain("unknown action `list` of `templates` (expected extract, verify, fingerprint)");
    expect((await runCli(["templates", "extract", "--bogus"])).exitCode).toBe(2);
  });
});
