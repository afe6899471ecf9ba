import { describe, expect, test } from "bun:test";
import { chmodSync, closeSync, constants, mkdirSync, openSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LOCK_EX, LOCK_NB, libc } from "../../src/libc.ts";
import { processTag } from "../../src/sni/private-copy.ts";
import { hostPostfixState, orphanedKeyCopies, stateDifferences, TEST_MAIL_CONFIG, TEST_TMPDIR } from "./host-guard.ts";
import { tmpdir } from "node:os";
import { tempDirs } from "./fixture.ts";

// The guard every test file runs under: it must see the changes it is there to catch.

const tempDir = tempDirs("mpi-host-guard-");

describe("host guard", () => {
  test("a changed mode, content or owner and a removed or added file are each one line", () => {
    const root = tempDir();
    mkdirSync(join(root, "public"));
    writeFileSync(join(root, "main.cf"), "a = 1\n");
    writeFileSync(join(root, "aliases"), "postmaster: root\n");
    const before = hostPostfixState([root]);
    chmodSync(join(root, "public"), 0o710);
    writeFileSync(join(root, "main.cf"), "a = 2\n");
    rmSync(join(root, "aliases"));
    writeFileSync(join(root, "new"), "");
    const lines = stateDifferences(before, hostPostfixState([root]));
    expect(lines.map((line) => line.slice(0, line.indexOf(":")))).toEqual([
      join(root, "aliases"),
      join(root, "main.cf"),
      join(root, "new"),
      join(root, "public"),
    ]);
    expect(lines.find((line) => line.startsWith(join(root, "public")))).toMatch(/: d 755 0:0 -> d 710 0:0$/);
    expect(lines.find((line) => line.startsWith(join(root, "aliases")))).toEndWith("-> absent");
  });

  test("nothing changed: no lines", () => {
    const root = tempDir();
    writeFileSync(join(root, "main.cf"), "a = 1\n");
    expect(stateDifferences(hostPostfixState([root]), hostPostfixState([root]))).toEqual([]);
  });

  test("Postfix's tools are pointed at the run's empty config dir, not /etc/postfix", () => {
    expect(process.env.MAIL_CONFIG).toBe(TEST_MAIL_CONFIG);
    // Without -c, postconf opens MAIL_CONFIG's main.cf: the empty dir has none.
    const postconf = Bun.spawnSync(["postconf", "-h", "config_directory"], {
      env: { PATH: process.env.PATH!, MAIL_CONFIG: process.env.MAIL_CONFIG! },
      stderr: "pipe",
    });
    expect(postconf.stderr.toString()).toContain(`postconf: fatal: open ${TEST_MAIL_CONFIG}/main.cf: No such file or directory`);
  });

  test("a key copy whose run has ended is found, one whose run still goes on is not; temp dirs go to this run's own", () => {
    const shm = tempDir();
    for (const name of [
      `mailcow-postfix-init-sni-${processTag("self")}-a`,
      `mailcow-postfix-init-sni-${process.pid}-1-b`,
      "mailcow-postfix-init-sni-999999999-5-c",
      "other",
    ])
      mkdirSync(join(shm, name));
    // A run goes on while it holds its copy's lock (src/sni/private-copy.ts), whatever the name says.
    const held = openSync(join(shm, `mailcow-postfix-init-sni-${processTag("self")}-a`), constants.O_RDONLY | constants.O_DIRECTORY);
    expect(libc().flock(held, LOCK_EX | LOCK_NB)).toBe(0);
    try {
      expect(orphanedKeyCopies(shm).sort()).toEqual([
        `mailcow-postfix-init-sni-${process.pid}-1-b`,
        "mailcow-postfix-init-sni-999999999-5-c",
      ]);
    } finally {
      closeSync(held);
    }
    expect(tmpdir()).toBe(TEST_TMPDIR);
    expect(shm.startsWith(`${TEST_TMPDIR}/`)).toBe(true);
  });
});
