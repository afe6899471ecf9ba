import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadLikePostfix } from "../../src/sni/postfix-loader.ts";
import { composeValue } from "../../src/sni/judge.ts";
import { makeCertificate, type MadeCertificate } from "../support/certs.ts";
import { expectCheckAgreesWithSniMap } from "../support/check-agreement.ts";
import { runCli } from "../support/cli.ts";
import { makeCorpus, type Variant } from "../support/pem-corpus.ts";
import { startTestPostfix, writePostfixConfig, type TestPostfix } from "../support/postfix-server.ts";
import { servedCertificate } from "../support/tls.ts";
import { makeTempDir } from "../support/tmp.ts";

// Differential test of the pair judge: every variant of the corpus goes, as the same files,
// (1) into a map built by hand with postmap -F and served by real Postfix (the oracle: does
// `openssl s_client -servername` get a certificate, or does smtpd log "error loading private
// keys and certificates from: SNI data for NAME"?), and (2) through our judge and our sni-map,
// whose map another real Postfix serves. Agreement must be total, and a name we map must
// never abort a handshake.

interface Outcome {
  /** Postfix installed the value: no load error logged for the name. */
  loaded: boolean;
  /** Fingerprint of the certificate s_client received, or undefined when the handshake failed. */
  served?: string;
}

const temp = makeTempDir("mpi-corpus-");
const sslDir = join(temp.path, "ssl");
let corpus: Variant[];
let fallback: MadeCertificate;
let oracle: TestPostfix;
let ours: TestPostfix;
let oursMap = "";
let oursStderr = "";
const oracleOutcome = new Map<string, Outcome>();
const oursOutcome = new Map<string, Outcome>();

const directoryOf = (variant: Variant) => join(sslDir, `${variant.id}.corpus.test`);
const filesOf = (variant: Variant) => {
  const dir = directoryOf(variant);
  return [join(dir, "key.pem"), join(dir, "cert.pem"), ...(variant.ecdsa ? [join(dir, "ecdsa-key.pem"), join(dir, "ecdsa-cert.pem")] : [])];
};

async function outcomes(postfix: TestPostfix, names: string[]): Promise<Map<string, Outcome>> {
  const served = new Map<string, string | undefined>();
  const queue = [...names];
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
        served.set(
          name,
          await servedCertificate(postfix.port, name).then(
            (certificate) => certificate.fingerprint,
            () => undefined,
          ),
        );
      }
    }),
  );
  await Bun.sleep(300); // smtpd's last log lines
  const log = postfix.log();
  return new Map(names.map((name) => [name, { loaded: !log.includes(`SNI data for ${name}: aborting`), served: served.get(name) }]));
}

beforeAll(async () => {
  corpus = await makeCorpus(join(temp.path, "scratch"));
  makeCertificate(sslDir, { names: ["mail.corpus.test"] });
  for (const variant of corpus) {
    const dir = directoryOf(variant);
    mkdirSync(dir, { recursive: true });
    const [keyFile, certFile, ecdsaKey, ecdsaCert] = filesOf(variant);
    writeFileSync(keyFile!, variant.main.key, { mode: 0o600 });
    writeFileSync(certFile!, variant.main.cert);
    if (variant.ecdsa) {
      writeFileSync(ecdsaKey!, variant.ecdsa.key, { mode: 0o600 });
      writeFileSync(ecdsaCert!, variant.ecdsa.cert);
    }
    writeFileSync(join(dir, "domains"), `${variant.id}.ours.test`);
  }
  fallback = makeCertificate(join(temp.path, "fallback"), { names: ["fallback.invalid"] });
  await Bun.sleep(150); // files left alone long enough for the judge (it waits for young files)

  // The oracle: the same files, one hand-written map line each, built by postmap -F.
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
  writeFileSync(join(oracleConf, "sni.map"), corpus.map((variant) => `${variant.id}.oracle.test ${filesOf(variant).join(" ")}\n`).join(""));
  const postmap = Bun.spawnSync(["postmap", "-c", oracleConf, "-F", `hash:${oracleConf}/sni.map`], { stderr: "pipe" });
  if (postmap.exitCode !== 0) throw new Error(`postmap -F of the oracle map failed: ${postmap.stderr.toString()}`);

  // Ours: sni-map on the tree, its map served by another instance.
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
  const run = await runCli(["sni-map", "--ssl-dir", sslDir, "--conf-dir", oursConf], { MAILCOW_HOSTNAME: "mail.corpus.test" });
  if (run.exitCode > 1) throw new Error(`sni-map failed: ${run.stderr}`);
  oursMap = readFileSync(join(oursConf, "sni.map"), "utf8");
  oursStderr = run.stderr;

  [oracle, ours] = await Promise.all([startTestPostfix(oracleOptions), startTestPostfix(oursOptions)]);
  for (const [name, outcome] of await outcomes(
    oracle,
    corpus.map((variant) => `${variant.id}.oracle.test`),
  ))
    oracleOutcome.set(name, outcome);
  for (const [name, outcome] of await outcomes(
    ours,
    corpus.map((variant) => `${variant.id}.ours.test`),
  ))
    oursOutcome.set(name, outcome);
}, 240_000);

afterAll(async () => {
  await Promise.all([oracle?.stop(), ours?.stop()]);
  temp.cleanup();
});

test("the corpus is large and covers both outcomes", () => {
  expect(corpus.length).toBeGreaterThanOrEqual(60);
  const loaded = corpus.filter((variant) => oracleOutcome.get(`${variant.id}.oracle.test`)?.loaded);
  expect(loaded.length).toBeGreaterThan(15);
  expect(corpus.length - loaded.length).toBeGreaterThan(15);
});

test("our judge agrees with Postfix's loader on every variant", () => {
  const disagreements: string[] = [];
  for (const variant of corpus) {
    const pairs = [variant.main, ...(variant.ecdsa ? [variant.ecdsa] : [])];
    const files = filesOf(variant);
    const { value, parts } = composeValue(
      pairs.map((pair, index) => ({
        files: { keyFile: files[index * 2]!, certFile: files[index * 2 + 1]! },
        key: pair.key,
        cert: pair.cert,
      })),
    );
    const verdict = loadLikePostfix(value, parts);
    const postfix = oracleOutcome.get(`${variant.id}.oracle.test`)!;
    if (verdict.loads !== postfix.loaded)
      disagreements.push(
        `${variant.id}: Postfix ${postfix.loaded ? "loads" : "refuses"}, ours ${verdict.loads ? "loads" : `refuses (${verdict.reason})`}`,
      );
  }
  expect(disagreements).toEqual([]);
});

test("a name we map is served its own certificate, never an aborted handshake; one we do not map gets the default chain", () => {
  const problems: string[] = [];
  for (const variant of corpus) {
    const name = `${variant.id}.ours.test`;
    const mapped = oursMap.split("\n").some((line) => line.startsWith(`${name} `));
    const served = oursOutcome.get(name)!;
    const postfix = oracleOutcome.get(`${variant.id}.oracle.test`)!;
    if (mapped && (!served.loaded || served.served === undefined)) problems.push(`${variant.id}: mapped, but the handshake failed`);
    if (mapped && !variant.ecdsa && served.served !== postfix.served)
      problems.push(`${variant.id}: mapped, served ${served.served} where Postfix alone serves ${postfix.served}`);
    if (!mapped && served.served !== fallback.fingerprint) problems.push(`${variant.id}: not mapped, yet not served the default chain`);
    // What Postfix serves by hand we map, unless a client could not use the key (one warning).
    if (!mapped && postfix.served !== undefined && !oursStderr.includes(`${directoryOf(variant)}: `))
      problems.push(`${variant.id}: Postfix serves it, we did not map it and said nothing`);
    if (
      !mapped &&
      postfix.served !== undefined &&
      !/key-type|common TLS clients/.test(oursStderr.split("\n").find((line) => line.includes(`${directoryOf(variant)}: `)) ?? "")
    ) {
      problems.push(`${variant.id}: Postfix serves it, but we left it out for another reason`);
    }
  }
  expect(problems).toEqual([]);
});

test("every variant we leave out gets exactly one log line naming its directory", () => {
  const problems: string[] = [];
  for (const variant of corpus) {
    const mapped = oursMap.includes(`${variant.id}.ours.test `);
    const dir = directoryOf(variant);
    const lines = oursStderr.split("\n").filter((line) => line.includes(`${dir}: `) && /not mapped|left out/.test(line));
    const ecdsaLeftOut =
      variant.ecdsa &&
      !oursMap
        .split("\n")
        .find((line) => line.startsWith(`${variant.id}.ours.test `))
        ?.includes("ecdsa-key.pem");
    if ((!mapped || ecdsaLeftOut) && lines.length !== 1) problems.push(`${variant.id}: ${lines.length} lines`);
  }
  expect(problems).toEqual([]);
});

test("check and check --json report the same verdicts and reasons as sni-map", async () => {
  await expectCheckAgreesWithSniMap(sslDir, { MAILCOW_HOSTNAME: "mail.corpus.test" }, oursMap, oursStderr);
});
