import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createTestDatabase, startMariadb, type TestDatabase } from "../support/mariadb.ts";
import { startContainerNamespace, waitForBannerInside } from "../support/namespace.ts";
import { buildContainerRoot, FIXTURE_SCRIPT, HOSTNAME } from "../support/namespace-root.ts";
import { handToAdmin, statListing } from "../support/admin-owned.ts";
import { writeImageMainCfInside } from "../support/lived-in.ts";
import { makeHeldMessageArchive, queueFiles, restoreSpoolFromTar } from "../support/queue.ts";

// The files `start` writes must equal, byte for byte, what the stock-shaped script writes from
// the same templates and the same starting tree (apart from sni.map, whose content is the
// point of the SNI issue). Both run for real in container-shaped namespaces. The starting tree
// is an admin's: the conf dir owned by 1000:1000 (dirs 775, files 664), and a spool restored
// from a tar backup holding a message whose name no longer matches its inode. Owner and mode of
// every path in the conf dir, and the queue, must come out the same.

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
const sqlFiles = (root: string) =>
  readdirSync(join(root, "opt/postfix/conf/sql"))
    .sort()
    .map((name) => `opt/postfix/conf/sql/${name}`);

/** Ours by design: sni.map and its .db are 0600 (the .db embeds private keys), the validation cache is ours alone. */
const OURS_BY_DESIGN = new Set(["sni.map", "sni.map.db"]);
const SPOOL_OURS_BY_DESIGN = ".mailcow-postfix-init";

const base = mkdtempSync("/tmp/mpi-equiv-");
chmodSync(base, 0o755);
const databases: TestDatabase[] = [];
let spoolArchive: string;
beforeAll(async () => {
  const dir = join(base, "queue-maker");
  mkdirSync(dir, { mode: 0o755 });
  spoolArchive = await makeHeldMessageArchive(dir, "restored-message", "someone@example.test");
}, 30_000);
afterAll(async () => {
  await Promise.all(databases.map((db) => db.stop()));
  rmSync(base, { recursive: true, force: true });
});

/** Run one startup in a fresh namespace until Postfix answers; return the files it wrote. */
async function runStartup(name: string, argv: string[], extraEnv: Record<string, string>) {
  const root = join(base, name);
  Bun.spawnSync(["mkdir", "-p", root]);
  buildContainerRoot(root, { prefix: "" });
  const confDir = join(root, "opt/postfix/conf");
  const spool = join(root, "var/spool/postfix");
  handToAdmin(confDir);
  restoreSpoolFromTar(spool, spoolArchive);
  const db = await startMariadb({ dir: join(root, "mariadb"), socketDir: join(root, "var/run/mysqld") });
  databases.push(db);
  await createTestDatabase(db);
  // A password the stock script's unquoted -p$DBPASS survives.
  await db.sql("CREATE USER 'plain'@'localhost' IDENTIFIED BY 'plain-Pass_1'; GRANT ALL ON mailcow_test.* TO 'plain'@'localhost';");
  const ns = await startContainerNamespace(root);
  try {
    // The image's own main.cf, which both startups' plain set-permissions, postmap and postalias read.
    await writeImageMainCfInside(ns);
    const env = {
      PATH: process.env.PATH!,
      DBNAME: "mailcow_test",
      DBUSER: "plain",
      DBPASS: "plain-Pass_1",
      MAILCOW_HOSTNAME: HOSTNAME,
      MPI_TEMPLATES: join(root, "usr/local/share/templates.json"),
      ...extraEnv,
    };
    const start = await ns.spawn(argv, env);
    await waitForBannerInside(ns, 25, 30_000).catch((error) => {
      throw new Error(`${error.message}\n${start.output()}`);
    });
    const files: Record<string, string> = Object.fromEntries(
      [...COMPARED, ...sqlFiles(root)].map((path) => [path, readFileSync(join(root, path), "utf8")]),
    );
    files["/etc/aliases"] = (await ns.exec(["cat", "/etc/aliases"])).stdout;
    files["dnsbl_reply.map"] = (await ns.exec(["cat", "/opt/postfix/conf/dnsbl_reply.map"])).stdout;
    return {
      files,
      output: start.output(),
      confListing: statListing(confDir, (path) => OURS_BY_DESIGN.has(path)),
      // Queue file names depend on inodes: each is listed by queue, owner and mode, and whether its name matches.
      queue: queueFiles(spool).map((file) => ({ queue: file.queue, owner: file.owner, nameMatchesInode: file.nameMatchesInode })),
      // The validation cache's directory is ours by design (the spool volume, not the admin's conf dir).
      spoolDirs: Object.fromEntries(
        Object.entries(statListing(spool, (path) => path === SPOOL_OURS_BY_DESIGN)).filter(([, stat]) => stat.startsWith("d ")),
      ),
    };
  } finally {
    await ns.stop();
  }
}

const stockStartup = (name: string, env: Record<string, string>) => runStartup(name, ["bash", FIXTURE_SCRIPT], env);
const ourStartup = (name: string, env: Record<string, string>) => runStartup(name, [BUN, MAIN, "start"], env);
type Startup = Awaited<ReturnType<typeof runStartup>>;

for (const [scenario, env] of [
  ["no DQS key, ASN check unreachable", {}],
  ["with a Spamhaus DQS key", { SPAMHAUS_DQS_KEY: "abc123key" }],
] as const) {
  describe(`equivalence with the stock-shaped script: ${scenario}`, () => {
    let stock: Startup;
    let ours: Startup;
    beforeAll(async () => {
      stock = await stockStartup(`stock-${databases.length}`, env);
      ours = await ourStartup(`ours-${databases.length}`, env);
    }, 60_000);

    for (const path of [...COMPARED, "/etc/aliases", "dnsbl_reply.map"]) {
      test(path, () => {
        expect(ours.files[path]).toBe(stock.files[path]!);
      });
    }

    test("owner, group and mode of every path in the admin's conf dir", () => {
      // Only what the stock script writes is root's (sql/, custom_transport.pcre root:postfix).
      expect(stock.confListing["."]).toBe("d 0775 1000:1000");
      expect(stock.confListing["main.cf"]).toBe("f 0664 1000:1000");
      expect(ours.confListing).toEqual(stock.confListing);
    });

    test("the queue after a restore: the held message renamed to match its inode, same owners and modes", () => {
      expect(stock.queue).toEqual([{ queue: "hold", owner: expect.any(String), nameMatchesInode: true }]);
      expect(ours.queue).toEqual(stock.queue);
      expect(ours.spoolDirs).toEqual(stock.spoolDirs);
    });

    test("every SQL map file: the same files with the same contents", () => {
      const sql = ({ files }: Startup) => Object.fromEntries(Object.entries(files).filter(([path]) => path.includes("/sql/")));
      expect(Object.keys(sql(stock)).length).toBeGreaterThan(0);
      expect(sql(ours)).toEqual(sql(stock));
    });

    test("both decided the same about Spamhaus", () => {
      if ("SPAMHAUS_DQS_KEY" in env) {
        expect(stock.output).toContain("Using the keyed fixture lists");
        expect(ours.files["opt/postfix/conf/main.cf"]).toContain("abc123key.keyed.fixture.test");
      } else {
        expect(stock.output).toContain("No open fixture lists");
        expect(ours.output).toContain("no Spamhaus lists: could not check this network's AS");
      }
    });
  });
}
