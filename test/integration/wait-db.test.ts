import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { databaseClient, optionFileValue, probeDatabase, withClientOptionFile } from "../../src/steps/wait-db.ts";
import { createTestDatabase, startMariadb, TEST_DB, type TestDatabase } from "../support/mariadb.ts";
import { makeTempDir } from "../support/tmp.ts";

const neverAborted = new AbortController().signal;

describe("database probe", () => {
  let db: TestDatabase;
  const temp = makeTempDir("mpi-waitdb-");
  beforeAll(async () => {
    db = await startMariadb();
    await createTestDatabase(db);
  });
  afterAll(async () => {
    await db?.stop();
    temp.cleanup();
  });

  test("the right credentials (an awkward password) connect", async () => {
    await withClientOptionFile(TEST_DB.user, TEST_DB.password, (file) =>
      probeDatabase(databaseClient(process.env), file, db.socket, neverAborted),
    );
  });

  test("a wrong password is an error naming the cause, not the password", async () => {
    const error = await withClientOptionFile(TEST_DB.user, "wrong-secret", (file) =>
      probeDatabase(databaseClient(process.env), file, db.socket, neverAborted),
    ).catch((caught) => caught);
    expect(error.message).toContain("Access denied for user");
    expect(error.message).not.toContain("wrong-secret");
  });

  test("a missing socket is an error", async () => {
    const error = await withClientOptionFile(TEST_DB.user, TEST_DB.password, (file) =>
      probeDatabase(databaseClient(process.env), file, join(temp.path, "none.sock"), neverAborted),
    ).catch((caught) => caught);
    expect(error.message).toContain("Can't connect");
  });

  test("the password is never in argv nor env nor on disk: the option file is a 0600 memfd on the child's fd 3", async () => {
    const recorder = join(temp.path, "fake-mariadb-admin");
    const record = join(temp.path, "record");
    writeFileSync(
      recorder,
      `#!/bin/sh\nfile="\${1#--defaults-extra-file=}"\n{ echo "$*"; stat -L -c %a "$file"; readlink "$file"; env | grep -c secret; cat "$file"; } > ${record}\n`,
    );
    chmodSync(recorder, 0o755);
    const before = readdirSync(tmpdir()).filter((name) => name.startsWith("mailcow-postfix-init-"));
    let optionFile = "";
    const savedEnv = process.env.DBPASS;
    process.env.DBPASS = 'top"secret';
    try {
      await withClientOptionFile("user", 'top"secret', async (file) => {
        optionFile = file;
        expect(readdirSync(tmpdir()).filter((name) => name.startsWith("mailcow-postfix-init-"))).toEqual(before);
        await probeDatabase(databaseClient(process.env, recorder), file, "/run/x.sock", neverAborted);
      });
    } finally {
      if (savedEnv === undefined) delete process.env.DBPASS;
      else process.env.DBPASS = savedEnv;
    }
    const [argv, fileMode, target, envHits, ...content] = readFileSync(record, "utf8").split("\n");
    expect(argv).not.toContain("secret");
    expect(argv).toStartWith("--defaults-extra-file=/dev/fd/3 ");
    expect(optionFile).toMatch(/^\/dev\/fd\/\d+$/);
    expect(fileMode).toBe("600");
    expect(target).toStartWith("/memfd:");
    expect(envHits).toBe("0");
    expect(content.join("\n")).toContain(`password=${optionFileValue('top"secret')}`);
  });

  test("option file values are quoted for MariaDB", () => {
    expect(optionFileValue(`a"b\\c#d`)).toBe(`"a\\"b\\\\c#d"`);
  });
});
