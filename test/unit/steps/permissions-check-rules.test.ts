import { afterAll, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  findPermissionDrift,
  idLookupFromFiles,
  parseIdTable,
  parsePostfixFiles,
  type IdLookup,
} from "../../../src/steps/permissions-check.ts";
import { makeTempDir } from "../../support/tmp.ts";

// The rules of post-install's set-permissions loop that the read-only check mirrors, one at a
// time (permissions-check.test.ts has the whole list over a tree): which lines and entries count,
// how owners and groups are resolved, what "not a directory" and `r` mean. A drift, or anything not
// understood, makes the start run the real `postfix set-permissions`.

const temp = makeTempDir("mpi-permrules-");
afterAll(temp.cleanup);
const ids: IdLookup = {
  uid: (name) => ({ root: 0, postfix: 101 })[name],
  gid: (name) => ({ root: 0, postdrop: 103 })[name],
};
let made = 0;
/** A fresh directory owned 0:0 with `mode`. */
function dir(mode = 0o755): string {
  const path = join(temp.path, `d${made++}`);
  mkdirSync(path);
  chmodSync(path, mode);
  return path;
}
const drift = (lines: string, variables: Record<string, string>) => findPermissionDrift(parsePostfixFiles(lines), variables, ids);

test("postfix-files lines: every field read, missing ones empty; comments, empty and blank lines dropped", () => {
  expect(parsePostfixFiles("# comment\n\n   \n$a:d:root:postdrop:755:uc\n$b:f\n$c\n")).toEqual([
    { path: "$a", type: "d", owner: "root", group: "postdrop", mode: "755", flags: "uc" },
    { path: "$b", type: "f", owner: "", group: "", mode: "", flags: "" },
    { path: "$c", type: "", owner: "", group: "", mode: "", flags: "" },
  ]);
});

test("passwd and group files: name to numeric id; lines without a name or a whole number id skipped", () => {
  expect(
    parseIdTable(
      "root:x:0:0::/root:/bin/sh\npostfix:x:101:103::/var/spool/postfix:/usr/sbin/nologin\n:x:5:\nodd:x:7a\nodd2:x:a7\nshort:x\n",
    ),
  ).toEqual(
    new Map([
      ["root", 0],
      ["postfix", 101],
    ]),
  );
  // By default the system's own files.
  expect([idLookupFromFiles().uid("root"), idLookupFromFiles().gid("root")]).toEqual([0, 0]);
  const passwd = join(temp.path, "passwd");
  const group = join(temp.path, "group");
  writeFileSync(passwd, "postfix:x:101:103::/var/spool/postfix:/usr/sbin/nologin\n");
  writeFileSync(group, "postdrop:x:103:\n");
  const lookup = idLookupFromFiles(passwd, group);
  // A name from the files; a number as chown takes it; anything else unknown.
  expect([lookup.uid("postfix"), lookup.uid("1234"), lookup.uid("12a"), lookup.uid("a12"), lookup.uid("postdrop")]).toEqual([
    101,
    1234,
    undefined,
    undefined,
    undefined,
  ]);
  expect([lookup.gid("postdrop"), lookup.gid("77"), lookup.gid("7x"), lookup.gid("postfix")]).toEqual([103, 77, undefined, undefined]);
});

test("hard links, symbolic links, obsolete entries and paths of a directory set to `no` are skipped", () => {
  const nowhere = join(temp.path, "absent");
  const variables = { gone: nowhere, sample_directory: "no", readme_directory: "no" };
  expect(
    drift(
      `$gone/hard:h:root:-:755\n$gone/soft:l:root:-:777\n$gone/old:f:root:-:644:o\n$sample_directory:d:root:-:755\n$readme_directory/x:f:root:-:644`,
      variables,
    ),
  ).toBeUndefined();
  expect(drift(`$gone/hard:f:root:-:755`, variables)).toBe(`${nowhere}/hard is missing`);
});

test("no group (`-` or an empty field) is not checked; a group or owner that is a variable is expanded, an unknown one is not understood", () => {
  const path = dir();
  chownSync(path, 0, 103);
  expect(drift(`$p:d:root:-:755\n$p:d:root::755`, { p: path })).toBeUndefined();
  expect(drift(`$p:d:$owner:$group:755`, { p: path, owner: "root", group: "postdrop" })).toBeUndefined();
  expect(drift(`$p:d:root:$group:755`, { p: path, group: "root" })).toBe(`${path} has group 103, not 0`);
  expect(drift(`$p:d:root:$nogroup:755`, { p: path })).toBe("$p: a variable that is not known here");
  expect(drift(`$p:d:$noowner:-:755`, { p: path })).toBe("$p: a variable that is not known here");
  expect(drift(`$p:d:root:nogroup:755`, { p: path })).toBe(`${path}: unknown owner root or group nogroup`);
});

test("a mode is three or four octal digits, nothing around them", () => {
  const path = dir(0o1755);
  expect(drift(`$p:d:root:-:1755`, { p: path })).toBeUndefined();
  for (const mode of ["1755x", "x755", "75", "789"])
    expect(drift(`$p:d:root:-:${mode}`, { p: path })).toBe(`${path}: mode "${mode}" not understood`);
});

test("a directory where a file is listed, or a file where a directory is: said which", () => {
  const path = dir();
  writeFileSync(join(path, "file"), "");
  expect(drift(`$p:f:root:-:755`, { p: path })).toBe(`${path} is not a file`);
  expect(drift(`$p/file:d:root:-:644`, { p: path })).toBe(`${path}/file is not a directory`);
});

test("`r` on a directory: every entry below is checked, a link below is drift, and the flag means nothing on a file", () => {
  const queue = dir(0o700);
  // Listed before the fine subdirectories (tmpfs lists the newest first): each is checked.
  writeFileSync(join(queue, "wrong-owner"), "");
  chownSync(join(queue, "wrong-owner"), 101, 0);
  for (const name of ["A", "B"]) {
    mkdirSync(join(queue, name));
    chmodSync(join(queue, name), 0o700);
    writeFileSync(join(queue, name, "file"), "");
  }
  expect(drift(`$q:d:root:-:700:ucr`, { q: queue })).toBe(`${queue}/wrong-owner is owned by uid 101, not 0`);
  chownSync(join(queue, "wrong-owner"), 0, 0);
  expect(drift(`$q:d:root:-:700:ucr`, { q: queue })).toBeUndefined();
  symlinkSync("/etc/passwd", join(queue, "A", "link"));
  expect(drift(`$q:d:root:-:700:ucr`, { q: queue })).toBe(`${queue}/A/link is a symbolic link`);
  // A file with `r`: its own owner and mode only.
  const file = join(dir(), "master");
  writeFileSync(file, "");
  chmodSync(file, 0o755);
  expect(drift(`$f:f:root:-:755:r`, { f: file })).toBeUndefined();
});
