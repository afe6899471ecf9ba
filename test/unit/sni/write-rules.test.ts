import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../../../src/errors.ts";
import { mapKeys, removeTempPair, wrapWriteError, writeSniMapFiles } from "../../../src/sni/write.ts";
import { makeCertificate } from "../../support/certs.ts";
import { entriesFromMapText, toolsWithPostmapShim, writeMapText } from "../../support/map-text.ts";
import { testTools } from "../../support/postfix-tools.ts";
import { isEmbeddedValueChanged } from "../../../src/sni/embedded.ts";
import { makeTempDir, writeSettledFile } from "../../support/tmp.ts";
import { COPY_PREFIX, MEMORY_DIR, processTag } from "../../../src/sni/private-copy.ts";

// The words and the clean-up of a failed build (docs/map-rules.md: sni-map exits 1 and the
// previous sni.map + sni.map.db stay in place), and the keys a map text holds, which the
// built table is checked against.

const temp = makeTempDir("mpi-write-rules-");
afterAll(() => temp.cleanup());

test("a map text's keys: the first word of each line, lower-cased; blank lines and comments are none", () => {
  const text = "A.Test /k /c\n\n# comment line\n   # indented comment\n#no-space x\n  b.test\t/k /c\n\t.C.TEST /k\nd.test\n";
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

test("the build embeds from a private copy in shared memory (0700, files 0600), removed as soon as the build is done; the temp map and its .db are 0600 from the start", async () => {
  const root = join(temp.path, "copy");
  const confDir = join(root, "conf");
  mkdirSync(confDir, { recursive: true });
  writeSettledFile(join(confDir, "main.cf"), "");
  const made = makeCertificate(join(root, "ssl"), { names: ["mail.example.test"] });
  const seen = join(root, "seen");
  // postmap -F is given the private map: record the file its first line names, and the modes,
  // then those of the temp map and of the .db postmap built from it (it holds the keys).
  const shim = `#!/bin/bash\nfor last; do :; done\nmap=\${last#hash:}\nif [[ "$*" == *" -F "* ]]; then file=$(awk 'NR==1 {print $2}' "$map"); stat -c '%n %a' "$(dirname "$file")" "$file" > '${seen}'; fi\n/usr/sbin/postmap "$@"; status=$?\nif [[ "$*" == *" -F "* ]]; then stat -c '%a' "$map" "$map.db" >> '${seen}'; fi\nexit $status\n`;
  await writeMapText(confDir, `mail.example.test ${made.keyFile} ${made.certFile}\n`, undefined, toolsWithPostmapShim(root, shim));
  const [dirLine, fileLine, ...tableModes] = readFileSync(seen, "utf8").trim().split("\n");
  const [copyDir, dirMode] = dirLine!.split(" ");
  expect(copyDir!.startsWith(join(MEMORY_DIR, `${COPY_PREFIX}${processTag("self")}-`))).toBe(true);
  expect(dirMode).toBe("700");
  expect(fileLine).toBe(`${copyDir}/0 600`);
  expect(tableModes).toEqual(["600", "600"]);
  expect(existsSync(copyDir!)).toBe(false);
  expect(readdirSync(confDir).sort()).toEqual(["main.cf", "sni.map", "sni.map.db"]);
});

test("a conf dir that does not exist: one error saying what the conf dir must be, nothing left behind", async () => {
  const confDir = join(temp.path, "no-such-conf");
  const made = makeCertificate(join(temp.path, "ssl-missing-conf"), { names: ["a.test"] });
  const attempt = writeMapText(confDir, `a.test ${made.keyFile} ${made.certFile}\n`);
  await expect(attempt).rejects.toThrow(UserError);
  const message = await attempt.catch((error: Error) => error.message);
  expect(message).toBe(
    `cannot create files in ${confDir}: ENOENT; the conf dir must exist and be writable (mailcow: data/conf/postfix -> /opt/postfix/conf); ${confDir}/sni.map and ${confDir}/sni.map.db left unchanged`,
  );
  // The system's own error stays reachable as the cause (the UserError that wraps it, then it).
  const error = (await attempt.catch((caught: Error) => caught)) as Error;
  expect(((error.cause as Error).cause as NodeJS.ErrnoException).code).toBe("ENOENT");
  expect(existsSync(confDir)).toBe(false);
  expect(readdirSync(MEMORY_DIR).filter((name) => name.startsWith(`${COPY_PREFIX}${processTag("self")}-`))).toEqual([]);
});

test("a file that no longer holds the bytes that were judged: the run is told to read every file again, nothing is built, nothing left", async () => {
  const root = join(temp.path, "changed");
  const confDir = join(root, "conf");
  mkdirSync(confDir, { recursive: true });
  writeSettledFile(join(confDir, "main.cf"), "");
  const made = makeCertificate(join(root, "ssl"), { names: ["mail.example.test"] });
  const text = `mail.example.test ${made.keyFile} ${made.certFile}\n`;
  await writeMapText(confDir, text);
  const before = readFileSync(join(confDir, "sni.map.db"));
  const entries = entriesFromMapText(text).map((entry) => ({ ...entry, sourceDir: join(root, "ssl") }));
  delete entries[0]!.value.bytes; // judged earlier: the build reads the files again
  makeCertificate(join(root, "ssl"), { names: ["mail.example.test"], existingKey: made.keyFile }); // renewed in place, same identity claimed
  const attempt = writeSniMapFiles(testTools(), confDir, text, entries);
  const error = await attempt.then(
    () => undefined,
    (caught: Error) => caught,
  );
  expect(isEmbeddedValueChanged(error)).toBe(true);
  expect(error?.message).toBe(
    `${join(root, "ssl")}: a certificate or key file changed without a new file identity; reading every file again; ${confDir}/sni.map and ${confDir}/sni.map.db left unchanged`,
  );
  expect(readFileSync(join(confDir, "sni.map.db"))).toEqual(before);
  expect(readdirSync(confDir).sort()).toEqual(["main.cf", "sni.map", "sni.map.db"]);
  expect(readdirSync(MEMORY_DIR).filter((name) => name.startsWith(`${COPY_PREFIX}${processTag("self")}-`))).toEqual([]);
});
