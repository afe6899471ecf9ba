import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createMemoryLogger } from "../../../src/log.ts";
import { postconfValues, QUEUE_LAYOUT } from "../../../src/postfix/index.ts";
import { testTools } from "../../support/postfix-tools.ts";
import { checkFatal, masterCfNamesPostlog, readCheckFatalValues } from "../../../src/steps/check-fatal.ts";
import { writeLivedInConf } from "../../support/lived-in.ts";
import { postfixUid } from "../../support/postfix-server.ts";
import { makeTempDir } from "../../support/tmp.ts";

// postfix-script's check-fatal with real Postfix tools on a lived-in conf dir whose queue is an
// empty directory, as a fresh spool volume is (queue_directory and data_directory under a temp
// root; the postfix command needs the queue directory itself to exist).

const cleanups: (() => void)[] = [];
afterAll(() => {
  for (const cleanup of cleanups) cleanup();
});

function livedIn() {
  const temp = makeTempDir("mpi-check-fatal-");
  cleanups.push(temp.cleanup);
  const confDir = join(temp.path, "conf");
  for (const dir of [confDir, join(temp.path, "var/spool/postfix"), join(temp.path, "var/lib")]) mkdirSync(dir, { recursive: true });
  writeLivedInConf(confDir, { root: temp.path, listen: "127.0.0.1" });
  return { root: temp.path, confDir, spool: join(temp.path, "var/spool/postfix") };
}

describe("checkFatal", () => {
  test("creates the missing queue (create-missing with the conf dir), then postsuper runs on it", async () => {
    const { confDir, spool } = livedIn();
    await checkFatal(testTools(), confDir, createMemoryLogger(), undefined);
    const hold = statSync(join(spool, "hold"));
    expect({ uid: hold.uid, mode: hold.mode & 0o7777 }).toEqual({ uid: postfixUid(), mode: 0o700 });
    expect(statSync(join(spool, "maildrop")).mode & 0o7777).toBe(0o730);
  });

  test("create-missing is left out when set-permissions just worked on the same queue layout", async () => {
    const { confDir } = livedIn();
    const layout = await postconfValues(testTools(), confDir, QUEUE_LAYOUT);
    // Nothing created the queue's subdirectories: postsuper, which needs them, says so.
    expect(checkFatal(testTools(), confDir, createMemoryLogger(), layout)).rejects.toThrow(
      `postsuper -c ${confDir} (queue repair) failed (exit 1): postsuper: fatal: scan_dir_push: open directory`,
    );
  });

  test("a queue layout other than the one set-permissions worked with (one value differs): create-missing runs", async () => {
    const { confDir, spool } = livedIn();
    const layout = await postconfValues(testTools(), confDir, QUEUE_LAYOUT);
    await checkFatal(testTools(), confDir, createMemoryLogger(), [...layout.slice(0, -1), "other"]);
    expect(statSync(join(spool, "hold")).isDirectory()).toBe(true);
  });

  test("maillog_file set: a postlog service in master.cf is required, as `postfix start` requires it", async () => {
    const { confDir } = livedIn();
    const masterCf = join(confDir, "master.cf");
    const known = { ...(await readCheckFatalValues(testTools(), confDir, createMemoryLogger())), maillog_file: "/dev/stdout" };
    const withoutPostlog = readFileSync(masterCf, "utf8").replace(/^postlog[ \t].*\n/m, "");
    writeFileSync(masterCf, `${withoutPostlog}postlog   unix-dgram n  -       n       -       1       postlogd\n`);
    await checkFatal(testTools(), confDir, createMemoryLogger(), undefined, known);
    writeFileSync(masterCf, withoutPostlog);
    await expect(checkFatal(testTools(), confDir, createMemoryLogger(), undefined, known)).rejects.toThrow(
      `missing 'postlog' service in ${masterCf} (maillog_file = /dev/stdout is written through it); add the line "postlog   unix-dgram n  -       n       -       1       postlogd" or run 'postfix -c ${confDir} upgrade-configuration'`,
    );
    // Without maillog_file nothing asks for it.
    await checkFatal(testTools(), confDir, createMemoryLogger(), undefined, { ...known, maillog_file: "" });
  });

  test("no master.cf: refused, as `postfix start` refuses", async () => {
    const { confDir } = livedIn();
    rmSync(join(confDir, "master.cf"));
    expect(checkFatal(testTools(), confDir, createMemoryLogger(), undefined)).rejects.toThrow(`no ${confDir}/master.cf file found`);
  });
});

describe("masterCfNamesPostlog: the postlog service found in master.cf without running postconf -M", () => {
  const temp = makeTempDir("mpi-postlog-");
  afterAll(temp.cleanup);
  const masterCfWith = (line: string) => {
    const path = join(temp.path, `master-${Math.random().toString(36).slice(2)}.cf`);
    writeFileSync(path, `smtp      inet  n       -       n       -       -       smtpd\n${line}\n`);
    return path;
  };

  test.each([
    ["postlog   unix-dgram n  -       n       -       1       postlogd", true],
    ["postlog\tunix-dgram\tn\t-\tn\t-\t1\tpostlogd", true],
    ["#postlog   unix-dgram n  -       n       -       1       postlogd", false],
    ["  postlog   unix-dgram n  -       n       -       1       postlogd", false],
    ["postlogd  unix-dgram n  -       n       -       1       postlogd", false],
    ["postlog   unix       n  -       n       -       1       postlogd", false],
    ["postlog unix-dgram", true],
  ])("%p -> %p", (line, expected) => {
    expect(masterCfNamesPostlog(masterCfWith(line as string))).toBe(expected as boolean);
  });

  test("a missing master.cf: not found (postconf -M then decides)", () => {
    expect(masterCfNamesPostlog(join(temp.path, "absent.cf"))).toBe(false);
  });
});
