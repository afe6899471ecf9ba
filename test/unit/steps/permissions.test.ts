import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, lstatSync, mkdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../../../src/errors.ts";
import { createMemoryLogger } from "../../../src/log.ts";
import type { StepContext } from "../../../src/steps/context.ts";
import { fixPermissions, lookupPostfixIds } from "../../../src/steps/permissions.ts";
import { testTools } from "../../support/postfix-tools.ts";
import { makeTempDir } from "../../support/tmp.ts";

// docs/start.md, ownership: exactly what mailcow's script sets (SQL maps and
// custom_transport.pcre root:postfix 0640, the queue's public and maildrop group postdrop), and
// nothing of the admin's. The conf dir here has no main.cf, so the step after the ownership
// (Postfix's own set-permissions, exercised by the start tests in a namespace) stops at postconf.

const temp = makeTempDir("mpi-permissions-");
afterAll(temp.cleanup);
const ids = { postfixGid: 103, postdropGid: 104 };

// The name starts as start.test.ts's set-permissions tests do: mutation/modules.ts runs both
// with one `-t` filter.
describe("postfix set-permissions' inputs: mailcow's owners, set first", () => {
  test("the postfix and postdrop gids come from the group file; a missing file or group is one error naming it", () => {
    const group = join(temp.path, "group");
    writeFileSync(group, "root:x:0:\npostfix:x:103:\npostdrop:x:104:\n");
    expect(lookupPostfixIds(group)).toEqual(ids);
    writeFileSync(group, "root:x:0:\npostfix:x:103:\n");
    expect(() => lookupPostfixIds(group)).toThrow(`group postdrop does not exist in ${group}; is Postfix installed?`);
    expect(() => lookupPostfixIds(join(temp.path, "none"))).toThrow(`cannot read ${join(temp.path, "none")}: ENOENT`);
  });

  test("SQL maps, custom_transport.pcre and the queue's public and maildrop get mailcow's owners; links are not followed, nothing else changes", async () => {
    const confDir = join(temp.path, "conf");
    const spoolDir = join(temp.path, "spool");
    const outside = join(temp.path, "outside.cf");
    mkdirSync(join(confDir, "sql"), { recursive: true });
    mkdirSync(join(spoolDir, "maildrop"), { recursive: true });
    mkdirSync(join(spoolDir, "public"));
    mkdirSync(join(spoolDir, "deferred"));
    writeFileSync(join(confDir, "sql", "mysql_a.cf"), "", { mode: 0o644 });
    writeFileSync(join(confDir, "sql", "notes.txt"), "", { mode: 0o644 });
    writeFileSync(outside, "", { mode: 0o644 });
    symlinkSync(outside, join(confDir, "sql", "link.cf"));
    writeFileSync(join(confDir, "custom_transport.pcre"), "", { mode: 0o666 });
    writeFileSync(join(confDir, "extra.cf"), "");
    chmodSync(join(confDir, "extra.cf"), 0o664);
    chownSync(join(confDir, "extra.cf"), 1000, 1000);
    writeFileSync(join(spoolDir, "maildrop", "queued"), "");
    chownSync(join(spoolDir, "maildrop", "queued"), 101, 0);
    const step: StepContext = {
      paths: { confDir, sslDir: "", spoolDir, mysqlSocket: "", aliasesFile: "" },
      env: { dbName: "d", dbUser: "u", dbPass: "p", hostname: "m.example" },
      templates: {} as StepContext["templates"],
      log: createMemoryLogger(),
      tools: testTools(),
    };
    await expect(fixPermissions(step, ids)).rejects.toThrow(/main\.cf/);
    const owner = (path: string) => {
      const stat = lstatSync(path);
      return [stat.uid, stat.gid, stat.mode & 0o777];
    };
    expect(owner(join(confDir, "sql"))).toEqual([0, 103, 0o755]);
    expect(owner(join(confDir, "sql", "mysql_a.cf"))).toEqual([0, 103, 0o640]);
    expect(owner(join(confDir, "sql", "notes.txt"))).toEqual([0, 103, 0o644]);
    expect(owner(outside)).toEqual([0, 0, 0o644]);
    expect(owner(join(confDir, "custom_transport.pcre"))).toEqual([0, 103, 0o640]);
    expect(owner(join(confDir, "extra.cf"))).toEqual([1000, 1000, 0o664]);
    expect(owner(join(spoolDir, "maildrop"))[1]).toBe(104);
    expect(owner(join(spoolDir, "public"))[1]).toBe(104);
    // Only those two: the queue's other directories and the spool itself keep their group.
    expect([owner(spoolDir)[1], owner(join(spoolDir, "deferred"))[1]]).toEqual([0, 0]);
    expect(owner(join(spoolDir, "maildrop", "queued")).slice(0, 2)).toEqual([101, 104]);
    expect(statSync(confDir).uid).toBe(0);
  });

  test("a file it must own that is missing: one error naming it", async () => {
    const confDir = join(temp.path, "bare");
    mkdirSync(join(confDir, "sql"), { recursive: true });
    const step = {
      paths: { confDir, sslDir: "", spoolDir: join(temp.path, "no-spool"), mysqlSocket: "", aliasesFile: "" },
      log: createMemoryLogger(),
      tools: testTools(),
    } as unknown as StepContext;
    let error: unknown;
    await fixPermissions(step, ids).catch((caught) => {
      error = caught;
    });
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toBe(`cannot fix ownership of ${join(confDir, "custom_transport.pcre")}: ENOENT`);
  });
});
