import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { builtBinary, cleanupBuiltBinary, runBinary } from "../support/binary.ts";
import { makeCertificate } from "../support/certs.ts";
import { mailTrees, testEnv } from "../support/fixture.ts";
import { createTestDatabase, startMariadb, TEST_DB } from "../support/mariadb.ts";
import { startContainerNamespace } from "../support/namespace.ts";
import { buildContainerRoot } from "../support/namespace-root.ts";
import { writeImageMainCfInside } from "../support/lived-in.ts";

// The condition of mailcow-dockerized issue 5816, through the compiled binary and its real
// process environment: SKIP_LETS_ENCRYPT=y set, a default certificate for the bare domain only
// (the hostname is not among its names). mailcow's script then wrote an empty sni.map; every
// command must map the default pair for the hostname and for every name of the certificate.

afterAll(cleanupBuiltBinary);
const mailTree = mailTrees("mpi-seed-");

const HOSTNAME = "mail.example.net";
const DEFAULT_NAMES = ["example.test", "www.example.test"];
/** Hostname first, then the certificate's names: what the default pair must be mapped for. */
const MAPPED_TO_DEFAULT = [HOSTNAME, ...DEFAULT_NAMES];
const seedEnv = () => testEnv({ SKIP_LETS_ENCRYPT: "y", MAILCOW_HOSTNAME: HOSTNAME });

function seedTree() {
  const tree = mailTree({ defaultNames: DEFAULT_NAMES, certificateDirs: { "shop.example.org": ["shop.example.org"] } });
  return { ...tree, shop: tree.dirs["shop.example.org"]! };
}

/** sni.map's lines as name -> "keyfile certfile". */
function mapLines(mapFile: string): Record<string, string> {
  const lines = readFileSync(mapFile, "utf8")
    .split("\n")
    .filter((line) => line !== "");
  return Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(" ")), line.slice(line.indexOf(" ") + 1)]));
}

/** The certificate Postfix itself finds in sni.map.db for NAME (postmap -q; value: key PEM, then chain). */
function servedPem(confDir: string, name: string, postmap: string[] = ["postmap", "-c", confDir]): string {
  const query = Bun.spawnSync([...postmap, "-q", name, `hash:${confDir}/sni.map`], { stderr: "pipe" });
  if (query.exitCode !== 0) throw new Error(`postmap -q ${name}: exit ${query.exitCode} ${query.stderr.toString()}`);
  const value = Buffer.from(query.stdout.toString().trim(), "base64").toString();
  return value.slice(value.indexOf("-----BEGIN CERTIFICATE-----"));
}

describe("SKIP_LETS_ENCRYPT=y and a hostname the default certificate does not cover", () => {
  test("sni-map maps the default pair for the hostname and every name of the default certificate", () => {
    const tree = seedTree();
    const result = runBinary(["sni-map", "--ssl-dir", tree.sslDir, "--conf-dir", tree.confDir], seedEnv());
    expect(result.exitCode, result.stderr).toBe(0);
    const defaultPair = `${tree.sslDir}/key.pem ${tree.sslDir}/cert.pem`;
    expect(mapLines(join(tree.confDir, "sni.map"))).toEqual({
      [HOSTNAME]: defaultPair,
      "example.test": defaultPair,
      "www.example.test": defaultPair,
      "shop.example.org": `${tree.shop.dir}/key.pem ${tree.shop.dir}/cert.pem`,
    });
    const defaultPem = readFileSync(tree.defaultCert!.certFile, "utf8");
    for (const name of MAPPED_TO_DEFAULT) expect(servedPem(tree.confDir, name), name).toBe(defaultPem);
    expect(result.stderr).toContain(`the default certificate does not cover the hostname ${HOSTNAME}`);
  });

  test("check reports the default pair mapped for the hostname and every name of the default certificate", () => {
    const tree = seedTree();
    const result = runBinary(["check", "--ssl-dir", tree.sslDir, "--json"], seedEnv());
    expect(result.exitCode, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as {
      hostname: string;
      entries: { name: string; source: string; files: string[] }[];
      problems: { code: string }[];
    };
    expect(report.hostname).toBe(HOSTNAME);
    const toDefault = report.entries.filter((entry) => entry.source === tree.sslDir);
    expect(toDefault.map((entry) => entry.name).sort()).toEqual([...MAPPED_TO_DEFAULT].sort());
    for (const entry of toDefault) expect(entry.files).toEqual([`${tree.sslDir}/key.pem`, `${tree.sslDir}/cert.pem`]);
    expect(report.problems.map((problem) => problem.code)).toEqual(["hostname-not-covered"]);
  });

  test("start (in a container-shaped namespace, real MariaDB and Postfix) maps them before it execs the Postfix master", async () => {
    const root = mkdtempSync("/tmp/mpi-seed-start-");
    buildContainerRoot(root, { prefix: "" });
    const sslDir = join(root, "etc/ssl/mail");
    // The default pair replaced by one for the bare domain only, as in the issue.
    const defaultCert = makeCertificate(sslDir, { names: DEFAULT_NAMES });
    const db = await startMariadb({ dir: join(root, "mariadb"), socketDir: join(root, "var/run/mysqld") });
    const ns = await startContainerNamespace(root).catch(async (error) => {
      await db.stop();
      throw error;
    });
    try {
      await createTestDatabase(db);
      await writeImageMainCfInside(ns);
      const env = {
        ...seedEnv(),
        DBNAME: TEST_DB.name,
        DBUSER: TEST_DB.user,
        DBPASS: TEST_DB.password,
        MPI_TEMPLATES: join(root, "usr/local/share/templates.json"),
        // Nothing listens there: the ASN check fails fast, as without network.
        MPI_ASN_CHECK_URL: "http://127.0.0.1:9/",
        MPI_WAIT_TIMEOUT: "20",
      };
      // Inside, the image's /etc/postfix is the namespace's own: MAIL_CONFIG as in the container.
      delete (env as Record<string, string>).MAIL_CONFIG;
      const started = await ns.spawn([builtBinary()], env);
      for (let waited = 0; !started.output().includes("prepared in") && waited < 30_000; waited += 50) {
        if (await Promise.race([started.exited.then(() => true), Bun.sleep(50).then(() => false)])) break;
      }
      expect(started.output()).toContain("SKIP_LETS_ENCRYPT is set");
      expect(started.output()).toContain("prepared in");
      const confDir = join(root, "opt/postfix/conf");
      const defaultPair = "/etc/ssl/mail/key.pem /etc/ssl/mail/cert.pem";
      const mapped = mapLines(join(confDir, "sni.map"));
      for (const name of MAPPED_TO_DEFAULT) expect(mapped[name], name).toBe(defaultPair);
      const defaultPem = readFileSync(defaultCert.certFile, "utf8");
      const inside = (name: string) => ns.exec(["postmap", "-q", name, "hash:/opt/postfix/conf/sni.map"]);
      for (const name of MAPPED_TO_DEFAULT) {
        const query = await inside(name);
        expect(query.exitCode, `${name}: ${query.stderr}`).toBe(0);
        const value = Buffer.from(query.stdout.trim(), "base64").toString();
        expect(value.slice(value.indexOf("-----BEGIN CERTIFICATE-----")), name).toBe(defaultPem);
      }
    } finally {
      await ns.stop();
      await db.stop();
      rmSync(root, { recursive: true, force: true });
    }
  }, 60_000);
});
