import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { makeCertificate } from "../../support/certs.ts";
import { testEnv } from "../../support/fixture.ts";
import { makeTempDir, writeSettledFile } from "../../support/tmp.ts";

// Where the build's private copy of the judged values goes (docs/map-rules.md, "Renewals during
// a build"): /dev/shm, "or beside the temp map when shared memory is absent or too small". Each
// case runs the build in a child with a /dev/shm of its own (a mount namespace: a tiny tmpfs, or
// a read-only one), never the host's.

const REPO = resolve(import.meta.dir, "../../..");
const MAP_TEXT = join(REPO, "test/support/map-text.ts");
const temp = makeTempDir("mpi-write-shm-");
afterAll(() => temp.cleanup());

interface Outcome {
  ok: boolean;
  name?: string;
  message?: string;
  /** Each error down the cause chain, outermost first: its `code`, else its name. */
  codes?: string[];
  /** What the child's /dev/shm holds afterwards. */
  shm: string[];
}

// Three sources: each value's file takes a page of its own, so a one-page /dev/shm cannot hold them.
const sources = ["a", "b", "c"].map((name) => ({
  name: `${name}.example.test`,
  ...makeCertificate(join(temp.path, "ssl", name), { names: [`${name}.example.test`] }),
}));
const mapText = sources.map((source) => `${source.name} ${source.keyFile} ${source.certFile}\n`).join("");

let count = 0;
function setup(withConfDir: boolean) {
  const root = join(temp.path, `case-${++count}`);
  const confDir = join(root, "conf");
  mkdirSync(root);
  if (withConfDir) {
    mkdirSync(confDir);
    writeSettledFile(join(confDir, "main.cf"), "");
  }
  // postmap -F is given the private map: record the directory of the first file it names.
  const seen = join(root, "seen");
  const shim = `#!/bin/bash\nfor last; do :; done\nif [[ "$*" == *" -F "* ]]; then file=$(awk 'NR==1 {print $2}' "\${last#hash:}"); dirname "$file" > '${seen}'; fi\nexec /usr/sbin/postmap "$@"\n`;
  return { root, confDir, seen, shim };
}

/**
 * writeSniMapFiles of `mapText` in a child whose /dev/shm is a fresh tmpfs mounted with OPTIONS,
 * and whose conf dir, with CONF_OPTIONS, is one too.
 */
function buildWithSharedMemory(options: string, root: string, confDir: string, shim: string, confOptions?: string): Outcome {
  const script = `
    const { readdirSync } = await import("node:fs");
    const { toolsWithPostmapShim, writeMapText } = await import(${JSON.stringify(MAP_TEXT)});
    const [root, confDir, text, shim] = process.argv.slice(-4);
    const shm = () => readdirSync("/dev/shm");
    try {
      await writeMapText(confDir, text, undefined, toolsWithPostmapShim(root, shim));
      console.log(JSON.stringify({ ok: true, shm: shm() }));
    } catch (error) {
      const codes = [];
      for (let current = error.cause; current instanceof Error; current = current.cause) codes.push(current.code ?? current.name);
      console.log(JSON.stringify({ ok: false, name: error.name, message: error.message, codes, shm: shm() }));
    }
  `;
  const run = Bun.spawnSync(
    [
      "unshare",
      "--mount",
      "--propagation",
      "private",
      "sh",
      "-c",
      'mount -t tmpfs -o "$1" mpi-test-shm /dev/shm && if [ -n "$2" ]; then mount -t tmpfs -o "$2" mpi-test-conf "$3"; fi && shift 3 && exec "$@"',
      "sh",
      options,
      confOptions ?? "",
      confDir,
      process.execPath,
      "-e",
      script,
      root,
      confDir,
      mapText,
      shim,
    ],
    { env: testEnv(), stdout: "pipe", stderr: "pipe" },
  );
  expect({ status: run.exitCode, stderr: run.stderr.toString() }).toEqual({ status: 0, stderr: "" });
  return JSON.parse(run.stdout.toString()) as Outcome;
}

function embedded(confDir: string, name: string): string {
  const query = Bun.spawnSync(["postmap", "-c", confDir, "-q", name, `hash:${join(confDir, "sni.map")}`]);
  return Buffer.from(query.stdout.toString().trim(), "base64").toString();
}

const confDirError = (confDir: string, code: string) =>
  `cannot create files in ${confDir}: ${code}; the conf dir must exist and be writable (mailcow: data/conf/postfix -> /opt/postfix/conf); ${confDir}/sni.map and ${confDir}/sni.map.db left unchanged`;

test("shared memory too small for the tree: the copy goes beside the temp map, every value is embedded, no copy is left anywhere", () => {
  const { root, confDir, seen, shim } = setup(true);
  const outcome = buildWithSharedMemory("size=4k,mode=1777", root, confDir, shim);
  expect(outcome).toEqual({ ok: true, shm: [] });
  const copyDir = readFileSync(seen, "utf8").trim();
  expect(copyDir).toMatch(new RegExp(`^${confDir}/\\.sni\\.map\\.[0-9a-f]+\\.tmp\\.d$`));
  expect(existsSync(copyDir)).toBe(false);
  for (const source of sources)
    expect(embedded(confDir, source.name)).toBe(`${readFileSync(source.keyFile, "utf8")}\n${readFileSync(source.certFile, "utf8")}`);
  expect(readdirSync(confDir).sort()).toEqual(["main.cf", "sni.map", "sni.map.db"]);
  rmSync(root, { recursive: true });
});

test("shared memory too small and no conf dir: one error saying what the conf dir must be (the system's reason kept as its cause)", () => {
  const { root, confDir, shim } = setup(false);
  const outcome = buildWithSharedMemory("size=4k,mode=1777", root, confDir, shim);
  expect(outcome).toEqual({
    ok: false,
    name: "UserError",
    message: confDirError(confDir, "ENOENT"),
    codes: ["UserError", "ENOENT"],
    shm: [],
  });
  expect(existsSync(confDir)).toBe(false);
  rmSync(root, { recursive: true });
});

test("shared memory unusable (read-only): the copy goes beside the temp map; without a conf dir, the same one error", () => {
  const built = setup(true);
  expect(buildWithSharedMemory("ro", built.root, built.confDir, built.shim)).toEqual({ ok: true, shm: [] });
  expect(readFileSync(built.seen, "utf8").trim()).toStartWith(`${built.confDir}/.sni.map.`);
  expect(embedded(built.confDir, sources[0]!.name)).toContain(readFileSync(sources[0]!.certFile, "utf8"));
  expect(readdirSync(built.confDir).sort()).toEqual(["main.cf", "sni.map", "sni.map.db"]);

  const { root, confDir, shim } = setup(false);
  const outcome = buildWithSharedMemory("ro", root, confDir, shim);
  expect(outcome).toEqual({
    ok: false,
    name: "UserError",
    message: confDirError(confDir, "ENOENT"),
    codes: ["UserError", "ENOENT"],
    shm: [],
  });
  expect(existsSync(confDir)).toBe(false);
});

test("shared memory unusable and a conf dir too small for the copy (a full disk): one error saying so", () => {
  const { root, confDir, shim } = setup(true);
  const outcome = buildWithSharedMemory("ro", root, confDir, shim, "size=4k");
  expect(outcome).toEqual({
    ok: false,
    name: "UserError",
    message: confDirError(confDir, "ENOSPC"),
    codes: ["UserError", "ENOSPC"],
    shm: [],
  });
  rmSync(root, { recursive: true });
});
