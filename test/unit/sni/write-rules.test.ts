import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../../../src/errors.ts";
import { mapKeys, removeTempPair, wrapWriteError } from "../../../src/sni/write.ts";
import { makeTempDir } from "../../support/tmp.ts";

// The words and the clean-up of a failed build (docs/map-rules.md: sni-map exits 1 and the
// previous sni.map + sni.map.db stay in place), and the keys a map text holds, which the
// built table is checked against.

const temp = makeTempDir("mpi-write-rules-");
afterAll(() => temp.cleanup());

test("a map text's keys: the first word of each line, lower-cased; blank lines and comments are none", () => {
  const text = "A.Test /k /c\n\n# comment line\n   # indented comment\n  b.test\t/k /c\n\t.C.TEST /k\nd.test\n";
  expect(mapKeys(text)).toEqual(["a.test", "b.test", ".c.test", "d.test"]);
  expect(mapKeys("")).toEqual([]);
});

test("a failure while building: the admin's reason, then that both files were left unchanged", () => {
  const mapFile = "/conf/sni.map";
  const fromUser = wrapWriteError(new UserError("postmap failed: no space", 4), mapFile);
  expect(fromUser).toBeInstanceOf(UserError);
  expect([fromUser.message, fromUser.exitCode]).toEqual(["postmap failed: no space; /conf/sni.map and /conf/sni.map.db left unchanged", 4]);
  expect(fromUser.cause).toBeInstanceOf(UserError);
  const fsError = Object.assign(new Error("EROFS: read-only file system"), { code: "EROFS" });
  const fromFs = wrapWriteError(fsError, mapFile);
  expect([fromFs.message, fromFs.exitCode]).toEqual([
    "cannot write /conf/sni.map: EROFS; the conf dir must be writable (mailcow: data/conf/postfix -> /opt/postfix/conf); sni.map and sni.map.db left unchanged",
    1,
  ]);
  expect(fromFs.cause).toBe(fsError);
  expect(wrapWriteError("odd", mapFile).message).toStartWith("cannot write /conf/sni.map: odd; ");
});

test("after a failed build nothing of it stays: the temp map, its .db, its private copy and Berkeley DB's scratch file", () => {
  const conf = join(temp.path, "conf");
  mkdirSync(join(conf, "sni.map.tmp.d"), { recursive: true });
  writeFileSync(join(conf, "sni.map.tmp.d", "0"), "key");
  for (const file of ["sni.map.tmp", "sni.map.tmp.db", "__db.sni.map.tmp.db", "sni.map", "sni.map.db"])
    writeFileSync(join(conf, file), "x");
  removeTempPair(join(conf, "sni.map.tmp"));
  expect(readdirSync(conf).sort()).toEqual(["sni.map", "sni.map.db"]);
  removeTempPair(join(conf, "sni.map.tmp")); // nothing left to remove: no error
  removeTempPair(join(temp.path, "no-such-dir", "sni.map.tmp"));
  expect(existsSync(join(conf, "sni.map"))).toBe(true);
});
