import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createTestDatabase, startMariadb, type TestDatabase } from "../support/mariadb.ts";
import { startContainerNamespace, waitForBannerInside, type ContainerNamespace } from "../support/namespace.ts";
import { buildContainerRoot, FIXTURE_SCRIPT, HOSTNAME } from "../support/namespace-root.ts";

// The files `start` writes must equal, byte for byte, what the stock-shaped script writes from
// the same templates and the same starting tree (apart from sni.map, whose content is the
// point of the SNI issue). Both run for real in container-shaped namespaces.

const BUN = process.execPath;
const MAIN = join(import.meta.dir, "..", "..", "src", "main.ts");
const COMPARED = [
  "opt/postfix/conf/main.cf",
  "opt/postfix/conf/extra.cf",
  "opt/postfix/conf/dns_blocklists.cf",
  "opt/postfix/conf/custom_postscreen_whitelist.cidr",
  "opt/postfix/conf/custom_transport.pcre",
];
/** Every SQL map file the startup wrote (whatever the script defines), relative to `root`. */
const sqlFiles = (root: string) => readdirSync(join(root, "opt/postfix/conf/sql")).sort().map((name) => `opt/postfix/conf/sql/${name}`);

const base = mkdtempSync("/tmp/mpi-equiv-");
const databases: TestDatabase[] = [];
afterAll(async () => {
  await Promise.all(databases.map((db) => db.stop()));
  rmSync(base, { recursive: true, force: true });
});

/** Run one startup in a fresh namespace until Postfix answers; return the files it wrote. */
async function runStartup(name: string, argv: string[], extraEnv: Record<string, string>, prepare?: (ns: ContainerNamespace) => Promise<void>) {
  const root = join(base, name);
  Bun.spawnSync(["mkdir", "-p", root]);
  buildContainerRoot(root, { prefix: "" });
  const db = await startMariadb({ dir: join(root, "mariadb"), socketDir: join(root, "var/run/mysqld") });
  databases.push(db);
  await createTestDatabase(db);
  // A password the stock script's unquoted -p$DBPASS survives.
  await db.sql("CREATE USER 'plain'@'localhost' IDENTIFIED BY 'plain-Pass_1'; GRANT ALL ON mailcow_test.* TO 'plain'@'localhost';");
  const ns = await startContainerNamespace(root);
  try {
    await prepare?.(ns);
    const env = {
      PATH: process.env.PATH!, DBNAME: "mailcow_test", DBUSER: "plain", DBPASS: "plain-Pass_1", MAILCOW_HOSTNAME: HOSTNAME,
      MPI_TEMPLATES: join(root, "usr/local/share/templates.json"),
      ...extraEnv,
    };
    const start = await ns.spawn(argv, env);
    await waitForBannerInside(ns, 25, 30_000).catch((error) => {
      throw new Error(`${error.message}\n${start.output()}`);
    });
    const files = Object.fromEntries([...COMPARED, ...sqlFiles(root)].map((path) => [path, readFileSync(join(root, path), "utf8")]));
    const aliases = await ns.exec(["cat", "/etc/aliases"]);
    const replyMap = await ns.exec(["cat", "/opt/postfix/conf/dnsbl_reply.map"]);
    return { ...files, "/etc/aliases": aliases.stdout, "dnsbl_reply.map": replyMap.stdout, output: start.output() };
  } finally {
    await ns.stop();
  }
}

const stockStartup = (name: string, env: Record<string, string>) =>
  runStartup(name, ["bash", FIXTURE_SCRIPT], env, async (ns) => {
    // The stock script runs Postfix's tools without -c; the image has a main.cf there.
    await ns.exec(["cp", "/opt/postfix/conf/main.cf", "/etc/postfix/main.cf"]);
  });
const ourStartup = (name: string, env: Record<string, string>) => runStartup(name, [BUN, MAIN, "start"], env);

for (const [scenario, env] of [
  ["no DQS key, ASN check unreachable", {}],
  ["with a Spamhaus DQS key", { SPAMHAUS_DQS_KEY: "abc123key" }],
] as const) {
  describe(`equivalence with the stock-shaped script: ${scenario}`, () => {
    let stock: Record<string, string>;
    let ours: Record<string, string>;
    beforeAll(async () => {
      stock = await stockStartup(`stock-${databases.length}`, env);
      ours = await ourStartup(`ours-${databases.length}`, env);
    }, 60_000);

    for (const path of [...COMPARED, "/etc/aliases", "dnsbl_reply.map"]) {
      test(path, () => {
        expect(ours[path]).toBe(stock[path]!);
      });
    }

    test("every SQL map file: the same files with the same contents", () => {
      const sql = (files: Record<string, string>) => Object.fromEntries(Object.entries(files).filter(([path]) => path.includes("/sql/")));
      expect(Object.keys(sql(stock)).length).toBeGreaterThan(0);
      expect(sql(ours)).toEqual(sql(stock));
    });

    test("both decided the same about Spamhaus", () => {
      if ("SPAMHAUS_DQS_KEY" in env) {
        expect(stock.output).toContain("Using the keyed fixture lists");
        expect(ours["opt/postfix/conf/main.cf"]).toContain("abc123key.keyed.fixture.test");
      } else {
        expect(stock.output).toContain("No open fixture lists");
        expect(ours.output).toContain("no Spamhaus lists: could not check this network's AS");
      }
    });
  });
}
