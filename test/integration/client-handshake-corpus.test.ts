import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeCertificate } from "../support/certs.ts";
import { expectCheckAgreesWithSniMap } from "../support/check-agreement.ts";
import { runCli } from "../support/cli.ts";
import { makeClientCorpus, type ClientVariant } from "../support/client-corpus.ts";
import type { PairFiles } from "../support/pem-corpus.ts";
import { startTestPostfix, writePostfixConfig, type TestPostfix } from "../support/postfix-server.ts";
import { CLIENT_FAMILIES, handshake, type ClientFamily } from "../support/tls-clients.ts";
import { makeTempDir } from "../support/tmp.ts";
import { cleanupBuiltBinary } from "../support/binary.ts";
import { startImageServers, type ImageServers } from "../support/image-postfix.ts";

// Differential test of "can the clients complete a handshake with what we map": certificates
// Postfix loads but some clients may not use (key sizes, keyUsage / extendedKeyUsage, chain
// sizes, signature algorithms, RSA+ECDSA values with one weak half), asked of four real client
// families (openssl s_client TLS 1.3 and TLS 1.2, gnutls-cli, posttls-finger) on real Postfix:
// once as values mapped by hand with postmap -F (what a family does with each), once through
// our sni-map. Every name we map must complete with every family the default certificate
// completes with; everything we leave out must have aborted for at least one family.
//
// MPI_CLIENT_CORPUS_RSA16384=1 adds an RSA-16384 variant (its key takes minutes to generate).
// MPI_CLIENT_CORPUS_IMAGE=IMAGE runs both Postfix instances, postmap and our compiled binary in
// that image instead (mailcow's real postfix image: its Postfix and OpenSSL), on the engine
// DOCKER_HOST names; the clients stay on the host.

const temp = makeTempDir("mpi-client-corpus-");
const sslDir = join(temp.path, "ssl");
const env = { MAILCOW_HOSTNAME: "mail.client.test" };
let corpus: ClientVariant[];
let oracle: TestPostfix;
let ours: TestPostfix;
let image: ImageServers | undefined;
let oursMap = "";
let oursStderr = "";
/** "NAME FAMILY" -> completed; names: VARIANT.oracle.test (the whole value), VARIANT-ecdsa.oracle.test (its ECDSA pair alone), VARIANT.ours.test. */
const completed = new Map<string, boolean>();
const details = new Map<string, string>();
/** Families the default certificate completes with: what every mapped name must match. */
let defaultFamilies: ClientFamily[] = [];

const directoryOf = (variant: ClientVariant) => join(sslDir, `${variant.id}.client.test`);
const files = (dir: string, pairs: { prefix: string; pair: PairFiles }[]) =>
  pairs.flatMap(({ prefix }) => [join(dir, `${prefix}key.pem`), join(dir, `${prefix}cert.pem`)]);
const pairsOf = (variant: ClientVariant) => [
  { prefix: "", pair: variant.main },
  ...(variant.ecdsa ? [{ prefix: "ecdsa-", pair: variant.ecdsa }] : []),
];

async function handshakes(postfix: TestPostfix, names: string[]): Promise<void> {
  const jobs = names.flatMap((name) => CLIENT_FAMILIES.map((family) => ({ name, family })));
  await Promise.all(
    Array.from({ length: 3 }, async () => {
      for (let job = jobs.shift(); job !== undefined; job = jobs.shift()) {
        const result = await handshake(job.family, postfix.port, job.name, postfix.confDir);
        completed.set(`${job.name} ${job.family}`, result.completed);
        details.set(`${job.name} ${job.family}`, result.detail);
      }
    }),
  );
}

const abortedFamilies = (name: string) => defaultFamilies.filter((family) => !completed.get(`${name} ${family}`));
const mapLine = (name: string) => oursMap.split("\n").find((line) => line.startsWith(`${name} `));

/** sni-map and check: in-process, or the compiled binary in the image. */
const runOurs = (argv: string[], env: Record<string, string>) => (image ? image.runOurs(argv, env) : runCli(argv, env));

beforeAll(async () => {
  if (process.env.MPI_CLIENT_CORPUS_IMAGE) image = startImageServers(process.env.MPI_CLIENT_CORPUS_IMAGE, temp.path);
  const largeKey =
    process.env.MPI_CLIENT_CORPUS_RSA16384 === "1"
      ? Bun.spawn(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:16384"], { stdout: "pipe", stderr: "ignore" })
      : undefined;
  const largeKeyPem = largeKey ? Buffer.from(await new Response(largeKey.stdout).arrayBuffer()) : undefined;
  corpus = await makeClientCorpus(join(temp.path, "scratch"), largeKeyPem);
  makeCertificate(sslDir, { names: ["mail.client.test"], keyType: "rsa" });
  for (const variant of corpus) {
    const dir = directoryOf(variant);
    mkdirSync(dir, { recursive: true });
    for (const { prefix, pair } of pairsOf(variant)) {
      writeFileSync(join(dir, `${prefix}key.pem`), pair.key, { mode: 0o600 });
      writeFileSync(join(dir, `${prefix}cert.pem`), pair.cert);
    }
    writeFileSync(join(dir, "domains"), `${variant.id}.ours.test`);
  }
  const fallback = makeCertificate(join(temp.path, "fallback"), { names: ["fallback.invalid"], keyType: "rsa" });
  await Bun.sleep(150); // files left alone long enough for the judge

  // The oracle: each whole value, and each ECDSA pair alone, mapped by hand with postmap -F.
  const oracleConf = join(temp.path, "oracle");
  mkdirSync(oracleConf);
  const oracleOptions = {
    root: join(temp.path, "oracle-root"),
    confDir: oracleConf,
    defaultKey: fallback.keyFile,
    defaultCert: fallback.certFile,
  };
  mkdirSync(oracleOptions.root);
  writePostfixConfig(oracleOptions, 1);
  const lines = corpus.flatMap((variant) => {
    const dir = directoryOf(variant);
    const whole = `${variant.id}.oracle.test ${files(dir, pairsOf(variant)).join(" ")}\n`;
    return variant.ecdsa ? [whole, `${variant.id}-ecdsa.oracle.test ${files(dir, pairsOf(variant).slice(1)).join(" ")}\n`] : [whole];
  });
  writeFileSync(join(oracleConf, "sni.map"), lines.join(""));
  const postmapArgv = ["postmap", "-c", oracleConf, "-F", `hash:${oracleConf}/sni.map`];
  const postmap = image ? image.exec(postmapArgv) : Bun.spawnSync(postmapArgv, { stderr: "pipe" });
  if (postmap.exitCode !== 0) throw new Error(`postmap -F of the oracle map failed: ${postmap.stderr.toString()}`);

  const oursConf = join(temp.path, "ours");
  mkdirSync(oursConf);
  const oursOptions = {
    root: join(temp.path, "ours-root"),
    confDir: oursConf,
    defaultKey: fallback.keyFile,
    defaultCert: fallback.certFile,
  };
  mkdirSync(oursOptions.root);
  writePostfixConfig(oursOptions, 1);
  const run = await runOurs(["sni-map", "--ssl-dir", sslDir, "--conf-dir", oursConf], image ? { ...env, MAIL_CONFIG: oursConf } : env);
  if (run.exitCode > 1) throw new Error(`sni-map failed: ${run.stderr}`);
  oursMap = readFileSync(join(oursConf, "sni.map"), "utf8");
  oursStderr = run.stderr;

  const start = (options: typeof oracleOptions) => (image ? image.startPostfix(options) : startTestPostfix(options));
  [oracle, ours] = await Promise.all([start(oracleOptions), start(oursOptions)]);
  const oracleNames = corpus.flatMap((variant) => [
    `${variant.id}.oracle.test`,
    ...(variant.ecdsa ? [`${variant.id}-ecdsa.oracle.test`] : []),
  ]);
  await handshakes(oracle, ["default.oracle.test", ...oracleNames]);
  await handshakes(
    ours,
    corpus.map((variant) => `${variant.id}.ours.test`),
  );
  defaultFamilies = CLIENT_FAMILIES.filter((family) => completed.get(`default.oracle.test ${family}`));
}, 600_000);

afterAll(async () => {
  await Promise.all([oracle?.stop(), ours?.stop()]);
  image?.stop();
  cleanupBuiltBinary();
  temp.cleanup();
});

test("the corpus is large, the default certificate serves every family, and both outcomes occur", () => {
  expect(corpus.length).toBeGreaterThanOrEqual(40);
  expect(defaultFamilies).toEqual([...CLIENT_FAMILIES]);
  const leftOut = corpus.filter((variant) => !mapLine(`${variant.id}.ours.test`));
  expect(leftOut.length).toBeGreaterThanOrEqual(10);
  expect(corpus.length - leftOut.length).toBeGreaterThanOrEqual(25);
});

test("every name we map (and every one we leave to the default certificate) completes a handshake with every family", () => {
  const failures = corpus.flatMap((variant) => {
    const name = `${variant.id}.ours.test`;
    return abortedFamilies(name).map(
      (family) => `${variant.id} (${mapLine(name) ? "mapped" : "not mapped"}): ${family} aborted: ${details.get(`${name} ${family}`)}`,
    );
  });
  expect(failures).toEqual([]);
});

test("whatever we leave out, at least one client family aborts when it is mapped by hand", () => {
  const needless: string[] = [];
  for (const variant of corpus) {
    const line = mapLine(`${variant.id}.ours.test`);
    if (!line && abortedFamilies(`${variant.id}.oracle.test`).length === 0)
      needless.push(`${variant.id}: left out, yet every family completes with it`);
    if (line && variant.ecdsa && !line.includes("ecdsa-key.pem") && abortedFamilies(`${variant.id}-ecdsa.oracle.test`).length === 0) {
      needless.push(`${variant.id}: ECDSA pair left out, yet every family completes with it alone`);
    }
  }
  expect(needless).toEqual([]);
});

test("whatever a family aborts with, we do not map as it is", () => {
  const missed = corpus.flatMap((variant) => {
    const line = mapLine(`${variant.id}.ours.test`);
    const asMapped = line && variant.ecdsa && !line.includes("ecdsa-key.pem") ? undefined : `${variant.id}.oracle.test`;
    const aborted = asMapped && line ? abortedFamilies(asMapped) : [];
    return aborted.length > 0 ? [`${variant.id}: mapped, but ${aborted.join(", ")} abort with the value`] : [];
  });
  expect(missed).toEqual([]);
});

test("each variant left out gets one error naming its file; verifying clients' objections are warnings, and only there", () => {
  const problems: string[] = [];
  for (const variant of corpus) {
    const dir = directoryOf(variant);
    const line = mapLine(`${variant.id}.ours.test`);
    const errors = oursStderr.split("\n").filter((text) => text.startsWith("mailcow-postfix-init: error: ") && text.includes(`${dir}: `));
    const leftOut = !line || (variant.ecdsa && !line.includes("ecdsa-key.pem"));
    if (leftOut && (errors.length !== 1 || !errors[0]!.includes(`${dir}/`)))
      problems.push(`${variant.id}: ${errors.length} error lines: ${errors.join(" | ")}`);
    if (!leftOut && errors.length > 0) problems.push(`${variant.id}: mapped, with an error: ${errors.join(" | ")}`);
    const warned = oursStderr.split("\n").some((text) => text.includes(`${dir}: `) && /clients that verify will reject it/.test(text));
    if (Boolean(variant.verifierWarning) !== warned)
      problems.push(`${variant.id}: ${warned ? "unexpected" : "no"} warning for verifying clients`);
  }
  expect(problems).toEqual([]);
});

test("the known edges land where OpenSSL's and GnuTLS's checks put them", () => {
  const outcome = (id: string) => {
    const line = mapLine(`${id}.ours.test`);
    return line === undefined
      ? "left out"
      : line.includes("ecdsa-key.pem") || !corpus.find((variant) => variant.id === id)?.ecdsa
        ? "mapped"
        : "main pair only";
  };
  const expected: Record<string, string> = {
    rsa512: "left out",
    rsa520: "left out",
    rsa521: "left out",
    rsa528: "mapped",
    rsa1024: "mapped",
    "rsa-ku-ke": "left out",
    "rsa-ku-ds": "mapped",
    "ec-ku-ka": "left out",
    "ec-ku-ds-ka": "mapped",
    "chain-at-limit": "mapped",
    "chain-one-byte-over": "left out",
    "dual-rsa512-ec": "mapped",
    "dual-rsa521-ec": "left out",
    "ed25519-ku-ka": "left out",
    "dual-rsa-ec-ku-ka": "main pair only",
    "dual-rsa-ke-ec": "left out",
    "rsa-eku-client": "mapped",
    "sig-md5": "mapped",
  };
  expect(Object.fromEntries(Object.keys(expected).map((id) => [id, outcome(id)]))).toEqual(expected);
  expect(abortedFamilies("chain-one-byte-over.oracle.test")).toContain("openssl-tls1.3");
  expect(abortedFamilies("chain-at-limit.oracle.test")).toEqual([]);
});

test("check and check --json report the same verdicts and reasons as sni-map", async () => {
  await expectCheckAgreesWithSniMap(sslDir, env, oursMap, oursStderr, runOurs);
});
