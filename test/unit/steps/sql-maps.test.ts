import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createMemoryLogger } from "../../../src/log.ts";
import type { StepContext } from "../../../src/steps/context.ts";
import { lookupPostfixIds } from "../../../src/steps/permissions.ts";
import { parseIdTable } from "../../../src/steps/permissions-check.ts";
import { renderSqlMaps, writeSqlMaps } from "../../../src/steps/sql-maps.ts";
import { extractTemplates } from "../../../src/templates/extract.ts";
import { FIXTURE_SCRIPT } from "../../support/namespace-root.ts";
import { testTools } from "../../support/postfix-tools.ts";
import { makeTempDir } from "../../support/tmp.ts";

const templates = extractTemplates(readFileSync(FIXTURE_SCRIPT, "utf8"), FIXTURE_SCRIPT);
const env = { dbName: "mailcow", dbUser: "mailcow", dbPass: `pa"ss\\#1`, hostname: "m.example" };
const temp = makeTempDir("mpi-sql-");
afterAll(temp.cleanup);

describe("SQL maps", () => {
  const stepIn = (confDir: string): StepContext => ({
    paths: { confDir, sslDir: "", spoolDir: "", mysqlSocket: "", aliasesFile: "" },
    env,
    templates,
    log: createMemoryLogger(),
    tools: testTools(),
  });

  test("rendered with the credentials", () => {
    const maps = renderSqlMaps(templates, env);
    expect([...maps.keys()]).toEqual(Object.keys(templates.sqlMaps));
    expect(maps.get("mysql_virtual_domains_maps.cf")).toBe(
      '# fixture map\nuser = mailcow\npassword = pa"ss\\#1\nhosts = unix:/var/run/mysqld/mysqld.sock\ndbname = mailcow\n' +
        "query = SELECT name FROM fixture_domain WHERE name='%s' AND enabled=1\n",
    );
  });

  test("written root:postfix 0640, byte-identical and untouched on a second run", () => {
    const ids = lookupPostfixIds();
    const step = stepIn(temp.path);
    const written = writeSqlMaps(step, ids);
    expect(written).toHaveLength(4);
    const snapshot = () => written.map((path) => [readFileSync(path, "utf8"), statSync(path).mtimeMs, statSync(path).ino] as const);
    for (const path of written) {
      const stat = statSync(path);
      expect(stat.mode & 0o777).toBe(0o640);
      expect([stat.uid, stat.gid]).toEqual([0, ids.postfixGid]);
    }
    const before = snapshot();
    writeSqlMaps(step, ids);
    expect(snapshot()).toEqual(before);
    expect(readdirSync(join(temp.path, "sql")).filter((name) => name.includes(".tmp"))).toEqual([]);
  });

  test("a CONF/sql that cannot be made is one error naming it", () => {
    const confDir = join(temp.path, "blocked");
    mkdirSync(confDir);
    writeFileSync(join(confDir, "sql"), "a file where the directory goes\n");
    expect(() => writeSqlMaps(stepIn(confDir), lookupPostfixIds())).toThrow(new RegExp(`^cannot create ${join(confDir, "sql")}: E[A-Z]+$`));
  });

  test("group ids come from /etc/group", () => {
    expect(parseIdTable("root:x:0:\npostfix:x:102:\npostdrop:x:103:\nbroken\n")).toEqual(
      new Map([
        ["root", 0],
        ["postfix", 102],
        ["postdrop", 103],
      ]),
    );
    expect(() => lookupPostfixIds(join(temp.path, "nonexistent"))).toThrow();
  });
});
