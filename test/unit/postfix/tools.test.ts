import { afterAll, beforeEach, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createMemoryLogger } from "../../../src/log.ts";
import { mapToolConfigArgs, postaliasBuild, postconfCheckedRecord, postconfValues, type PostfixTools } from "../../../src/postfix/index.ts";
import { testTools } from "../../support/postfix-tools.ts";
import { POSTMAP_LOSING_ITS_FILES, toolsWithPostmapShim, writeMapText } from "../../support/map-text.ts";
import { UserError } from "../../../src/errors.ts";
import { postmapQuery } from "../../support/postmap.ts";
import { writeImageMainCf } from "../../support/lived-in.ts";
import { makeTempDir, writeSettledFile } from "../../support/tmp.ts";
import { mailTrees } from "../../support/fixture.ts";

// Real Postfix tools on the conf dir of a lived-in install (extra.cf overriding main.cf
// settings under the Overrides marker): every tool prints "overriding earlier entry" on stderr
// and exits 0. Judged by their result, each step succeeds and each warning is logged once.

const cleanups: (() => void)[] = [];
afterAll(() => {
  for (const cleanup of cleanups) cleanup();
});

const mailTree = mailTrees("mpi-postfix-");

function livedIn() {
  const { root, confDir, defaultCert } = mailTree({ defaultNames: ["mail.example.test"], mainCf: "lived-in" });
  return { root, confDir, made: defaultCert! };
}

const warningLines = (lines: string[]) => lines.filter((line) => line.includes("overriding earlier entry"));

// The tools read the image's default config dir when it has a main.cf (as mailcow's script
// runs them), else the mailcow conf dir. Point the default at an empty dir: the conf dir, with
// its warnings, is used. Individual tests put the image's main.cf there.
let defaultDir: string;
let tools: PostfixTools;
beforeEach(() => {
  const temp = makeTempDir("mpi-default-config-");
  cleanups.push(temp.cleanup);
  defaultDir = temp.path;
  tools = testTools({ configDir: defaultDir });
});

describe("Postfix tools on a lived-in conf dir", () => {
  test("the conf dir really makes the tools warn (so the tests below mean something)", () => {
    const { confDir } = livedIn();
    const result = Bun.spawnSync(["postmap", "-c", confDir, "-q", "x", "hash:/nonexistent"], { stderr: "pipe" });
    expect(result.stderr.toString()).toContain("overriding earlier entry: milter_default_action=tempfail");
  });

  test("sni.map: built, keys checked, each configuration warning logged once", async () => {
    const { confDir, made } = livedIn();
    const log = createMemoryLogger();
    await writeMapText(
      confDir,
      `mail.example.test ${made.keyFile} ${made.certFile}\nother.example.test ${made.keyFile} ${made.certFile}\n`,
      log,
    );
    const embedded = Buffer.from(postmapQuery("mail.example.test", `hash:${confDir}/sni.map`, confDir) ?? "", "base64").toString();
    expect(embedded).toStartWith(readFileSync(made.keyFile, "utf8"));
    const warnings = warningLines(log.lines);
    expect(warnings.length).toBeGreaterThan(0);
    expect(new Set(warnings).size).toBe(warnings.length);
    expect(log.lines.filter((line) => line.includes(": error:"))).toEqual([]);
  });

  test("sni.map: an entry postmap skips still fails the build, old pair kept", async () => {
    const { confDir, made } = livedIn();
    await writeMapText(confDir, `mail.example.test ${made.keyFile} ${made.certFile}\n`);
    const before = readFileSync(join(confDir, "sni.map.db"));
    const shim = toolsWithPostmapShim(join(confDir, ".."), POSTMAP_LOSING_ITS_FILES);
    const attempt = writeMapText(
      confDir,
      `mail.example.test ${made.keyFile} ${made.certFile}\ngone.example.test ${made.keyFile} ${made.certFile}\n`,
      undefined,
      shim,
    );
    await expect(attempt).rejects.toThrow(/could not embed every entry: .*No such file or directory.*left unchanged/s);
    expect(readFileSync(join(confDir, "sni.map.db"))).toEqual(before);
  });

  test("sni.map: postmap itself failing (a broken main.cf) fails the build with its words and exit status, old pair kept", async () => {
    const { confDir, made } = livedIn();
    await writeMapText(confDir, `mail.example.test ${made.keyFile} ${made.certFile}\n`);
    const before = readFileSync(join(confDir, "sni.map.db"));
    writeSettledFile(join(confDir, "main.cf"), "this line has no equals sign\n");
    const attempt = writeMapText(confDir, `mail.example.test ${made.keyFile} ${made.certFile}\n`);
    await expect(attempt).rejects.toThrow(
      /^postmap -F failed \(exit 1\): postmap: fatal: .*main\.cf, line 1: missing '=' after attribute name.*left unchanged$/s,
    );
    expect(readFileSync(join(confDir, "sni.map.db"))).toEqual(before);
  });

  test("sni.map: a table missing a key (postmap silent about it) fails the build, old pair kept", async () => {
    const { root, confDir, made } = livedIn();
    await writeMapText(confDir, `mail.example.test ${made.keyFile} ${made.certFile}\n`);
    const before = readFileSync(join(confDir, "sni.map.db"));
    // A postmap that drops the last line of the map before building it, and says nothing.
    const shim = toolsWithPostmapShim(
      root,
      `#!/bin/bash\nfor last; do :; done\nif [[ "$*" == *" -F "* ]]; then file=\${last#hash:}; sed -i '$d' "$file"; fi\nexec /usr/sbin/postmap "$@"\n`,
    );
    const attempt = writeMapText(
      confDir,
      `mail.example.test ${made.keyFile} ${made.certFile}\nnew.example.test ${made.keyFile} ${made.certFile}\n`,
      undefined,
      shim,
    );
    await expect(attempt).rejects.toThrow(
      "postmap -F built a table that does not match the map: 1 of 2 names stored; missing 1 (new.example.test)",
    );
    expect(readFileSync(join(confDir, "sni.map.db"))).toEqual(before);
    expect(readdirSync(confDir).filter((name) => name.includes(".tmp"))).toEqual([]);
  });

  test("sni.map: a good table is confirmed from the .db itself, without postmap -s (40 MB of output)", async () => {
    const { root, confDir, made } = livedIn();
    // A postmap whose -s always fails: the build can only succeed if -s is never asked.
    const shim = toolsWithPostmapShim(
      root,
      `#!/bin/bash\nif [[ " $* " == *" -s "* ]]; then echo "postmap: fatal: -s must not run" >&2; exit 1; fi\nexec /usr/sbin/postmap "$@"\n`,
    );
    await writeMapText(
      confDir,
      `mail.example.test ${made.keyFile} ${made.certFile}\nother.example.test ${made.keyFile} ${made.certFile}\n`,
      undefined,
      shim,
    );
    // A table the direct read cannot confirm (a key too long for a bucket page) goes to postmap -s.
    const longName = `${"a".repeat(2000)}.example.test`;
    const attempt = writeMapText(confDir, `${longName} ${made.keyFile} ${made.certFile}\n`, undefined, shim);
    await expect(attempt).rejects.toThrow("-s must not run");
    expect(readFileSync(join(confDir, "sni.map"), "utf8")).toStartWith("mail.example.test ");
  });

  test("postalias builds the aliases table; its warnings are logged, not a failure", async () => {
    const { root, confDir } = livedIn();
    const aliases = join(root, "aliases");
    writeFileSync(aliases, "devnull: /dev/null\n");
    const log = createMemoryLogger();
    await postaliasBuild(tools, aliases, confDir, log);
    expect(warningLines(log.lines).length).toBeGreaterThan(0);
    expect(postmapQuery("devnull", `hash:${aliases}`, confDir)).toBe("/dev/null\n");
  });

  test("with the image's default main.cf present, postmap and postalias use it as mailcow's script does: no warnings", async () => {
    const { root, confDir } = livedIn();
    writeImageMainCf(defaultDir);
    expect(mapToolConfigArgs(tools, confDir)).toEqual([]);
    const aliases = join(root, "aliases");
    writeFileSync(aliases, "devnull: /dev/null\n");
    const log = createMemoryLogger();
    await postaliasBuild(tools, aliases, confDir, log);
    expect(log.lines).toEqual([]);
  });

  test("postconf: the check and -h pass, warnings logged; a real error still fails", async () => {
    const { confDir } = livedIn();
    const log = createMemoryLogger();
    // extra.cf's override wins; the fixture's queue_directory is under its temp root.
    expect(await postconfCheckedRecord(tools, confDir, ["milter_default_action", "queue_directory"], log)).toEqual({
      milter_default_action: "accept",
      queue_directory: expect.stringMatching(/\/var\/spool\/postfix$/),
    });
    expect(await postconfValues(tools, confDir, ["milter_default_action"], log)).toEqual(["accept"]);
    expect(warningLines(log.lines).length).toBeGreaterThan(0);
    writeFileSync(join(confDir, "master.cf"), `${readFileSync(join(confDir, "master.cf"), "utf8")}a line with a bad field count\n`);
    await expect(postconfCheckedRecord(tools, confDir, ["queue_directory"], log)).rejects.toThrow(
      /^Postfix configuration error, refusing to start \(postconf -c .*\):\n.*master\.cf: line \d+: bad field count/,
    );
    writeFileSync(join(confDir, "main.cf"), `${readFileSync(join(confDir, "main.cf"), "utf8")}this line has no equals sign\n`);
    await expect(postconfCheckedRecord(tools, confDir, ["queue_directory"], log)).rejects.toThrow(UserError);
  });
});
