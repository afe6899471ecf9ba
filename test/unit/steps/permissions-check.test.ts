import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { findPermissionDrift, parsePostfixFiles, readPostfixFiles, type IdLookup } from "../../../src/steps/permissions-check.ts";
import { makeTempDir } from "../../support/tmp.ts";

// The read-only check against a postfix-files list of our own over a temp tree (as root, so
// owners can be set); the real list and the real tool are exercised by the e2e start test.

const temp = makeTempDir("mpi-permcheck-");
afterAll(temp.cleanup);
const ids: IdLookup = {
  uid: (name) => ({ root: 0, postfix: 101 })[name],
  gid: (name) => ({ root: 0, postdrop: 103 })[name],
};

const LIST = [
  "# comment",
  "$queue_directory:d:root:-:755:uc",
  "$queue_directory/maildrop:d:$mail_owner:$setgid_group:730:uc",
  "$queue_directory/deferred:d:$mail_owner:-:700:ucr",
  "$daemon_directory/master:f:root:-:755",
  "$daemon_directory/main.cf:f:root:-:644:o",
  "$daemon_directory/link:l:root:-:777",
  "/etc/not-a-variable:f:root:-:644",
  "$manpage_directory/man1/postfix.1.gz:f:root:-:644",
].join("\n");

function tree(name: string) {
  const root = join(temp.path, name);
  const queue = join(root, "spool");
  const daemon = join(root, "libexec");
  for (const dir of [queue, daemon]) mkdirSync(dir, { recursive: true });
  chmodSync(queue, 0o755);
  mkdirSync(join(queue, "maildrop"));
  chownSync(join(queue, "maildrop"), 101, 103);
  chmodSync(join(queue, "maildrop"), 0o730);
  mkdirSync(join(queue, "deferred", "A"), { recursive: true });
  writeFileSync(join(queue, "deferred", "A", "A1B2C3"), "queue file");
  chmodSync(join(queue, "deferred", "A", "A1B2C3"), 0o700); // a queue file's mode is its state: never compared
  for (const dir of [join(queue, "deferred"), join(queue, "deferred", "A")]) chmodSync(dir, 0o700);
  for (const path of [join(queue, "deferred"), join(queue, "deferred", "A"), join(queue, "deferred", "A", "A1B2C3")])
    chownSync(path, 101, 0);
  writeFileSync(join(daemon, "master"), "");
  chmodSync(join(daemon, "master"), 0o755);
  const variables = {
    queue_directory: queue,
    daemon_directory: daemon,
    mail_owner: "postfix",
    setgid_group: "postdrop",
    manpage_directory: "no",
  };
  return { queue, daemon, variables, entries: parsePostfixFiles(LIST) };
}

describe("findPermissionDrift", () => {
  test("everything as listed: nothing to do (links, obsolete, non-$ and 'no' paths skipped)", () => {
    const { variables, entries } = tree("clean");
    expect(entries).toHaveLength(8);
    expect(findPermissionDrift(entries, variables, ids)).toBeUndefined();
  });

  test("a wrong mode, a wrong owner, a wrong group, a missing directory are each found", () => {
    const cases: [string, (t: ReturnType<typeof tree>) => void, RegExp][] = [
      ["mode", (t) => chmodSync(t.queue, 0o775), /spool has mode 775, not 755/],
      ["owner", (t) => chownSync(join(t.daemon, "master"), 1000, 0), /master is owned by uid 1000, not 0/],
      ["group", (t) => chownSync(join(t.queue, "maildrop"), 101, 0), /maildrop has group 0, not 103/],
      ["missing", (t) => rmSync(join(t.queue, "maildrop"), { recursive: true }), /maildrop is missing/],
      ["below, recursive owner", (t) => chownSync(join(t.queue, "deferred", "A", "A1B2C3"), 0, 0), /A1B2C3 is owned by uid 0, not 101/],
      ["below, directory mode", (t) => chmodSync(join(t.queue, "deferred", "A"), 0o755), /deferred\/A has mode 755, not 700/],
    ];
    for (const [name, breakIt, expected] of cases) {
      const t = tree(`broken-${name.replace(/\W+/g, "-")}`);
      breakIt(t);
      expect({ name, drift: findPermissionDrift(t.entries, t.variables, ids) }).toEqual({ name, drift: expect.stringMatching(expected) });
    }
  });

  test("what it does not understand makes the real tool run", () => {
    const { variables } = tree("unknown");
    expect(findPermissionDrift(parsePostfixFiles("$queue_directory:x:root:-:755"), variables, ids)).toContain("unknown entry type");
    expect(findPermissionDrift(parsePostfixFiles("$nowhere/x:f:root:-:755"), variables, ids)).toContain(
      "a variable that is not known here",
    );
    expect(findPermissionDrift(parsePostfixFiles("$queue_directory:d:nobody-here:-:755"), variables, ids)).toContain("unknown owner");
    expect(findPermissionDrift(parsePostfixFiles("$queue_directory:d:root:-:u+rwx"), variables, ids)).toContain("not understood");
  });
});

describe("readPostfixFiles", () => {
  test("the main list and postfix-files.d in sorted order", () => {
    const meta = join(temp.path, "meta");
    mkdirSync(join(meta, "postfix-files.d"), { recursive: true });
    writeFileSync(join(meta, "postfix-files"), "$a:f:root:-:644\n");
    writeFileSync(join(meta, "postfix-files.d", "b.files"), "$c:f:root:-:644\n");
    writeFileSync(join(meta, "postfix-files.d", "a.files"), "$b:f:root:-:644\n");
    expect(readPostfixFiles(meta).map((entry) => entry.path)).toEqual(["$a", "$b", "$c"]);
  });

  test("Debian's real list parses and names only types d, f, h, l", () => {
    const entries = readPostfixFiles("/etc/postfix");
    expect(entries.length).toBeGreaterThan(50);
    expect(new Set(entries.map((entry) => entry.type))).toEqual(
      new Set(["d", "f", "h", "l"].filter((type) => entries.some((entry) => entry.type === type))),
    );
  });
});
