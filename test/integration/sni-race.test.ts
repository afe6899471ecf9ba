import { afterAll, beforeAll, expect, test } from "bun:test";
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createMemoryLogger } from "../../src/log.ts";
import { updateSniMap } from "../../src/sni/update.ts";
import { testTools } from "../support/postfix-tools.ts";
import { makeCertificate, type MadeCertificate } from "../support/certs.ts";
import { runCli } from "../support/cli.ts";
import { startTestPostfix, writePostfixConfig, type TestPostfix } from "../support/postfix-server.ts";
import { servedCertificate } from "../support/tls.ts";
import { makeTempDir } from "../support/tmp.ts";

// A renewal writer (race-writer.ts) swaps one certificate directory between pairs A and B,
// non-atomically, in chunks and by mv, while sni-map (the engine, and the command) and reload
// run again and again. After every run the value sni.map.db embeds for the raced name is
// decoded: it must be exactly A's or B's key and chain (or the name left out with a warning),
// never a mixed or truncated pair; and a running Postfix must serve A or B, never abort. Once
// the writer stops, a renewal is mapped by the very next run and served (liveness, not only safety).
// The engine runs keep a table record (a cache file, as in a container), so after a renewal
// they update sni.map.db in place (postmap -r -i); the commands run without one and build it
// in full (postmap -F over the private copy): both paths race the writer.

const RUNS_ENGINE = 440;
const RUNS_COMMAND = 60;
const RUNS_RELOAD = 20;
const NAME = "race.example.test";

const temp = makeTempDir("mpi-race-");
const sslDir = join(temp.path, "ssl");
const confDir = join(temp.path, "conf");
const raced = join(sslDir, NAME);
const stopFile = join(temp.path, "stop-writing");
let postfix: TestPostfix;
let writer: ReturnType<typeof Bun.spawn>;
let pairs: { value: string; made: MadeCertificate }[];
let fallback: MadeCertificate;

beforeAll(async () => {
  makeCertificate(sslDir, { names: ["mail.example.test"] });
  pairs = ["a", "b"].map((label) => {
    const dir = join(temp.path, label);
    const made = makeCertificate(dir, { names: [NAME], keyType: label === "a" ? "rsa" : undefined });
    writeFileSync(join(dir, "domains"), NAME);
    return { made, value: `${readFileSync(made.keyFile, "utf8")}\n${readFileSync(made.certFile, "utf8")}` };
  });
  cpSync(join(temp.path, "a"), raced, { recursive: true });
  mkdirSync(confDir);
  fallback = makeCertificate(join(temp.path, "fallback"), { names: ["fallback.invalid"] });
  const options = { root: temp.path, confDir, defaultKey: fallback.keyFile, defaultCert: fallback.certFile };
  writePostfixConfig(options, 1);
  await Bun.sleep(100);
  await updateSniMap({ tools: testTools(), sslDir, confDir, hostname: "mail.example.test", log: createMemoryLogger() });
  postfix = await startTestPostfix(options);
  writer = Bun.spawn(
    [process.execPath, resolve(import.meta.dir, "../support/race-writer.ts"), raced, join(temp.path, "a"), join(temp.path, "b"), stopFile],
    { stdout: "ignore", stderr: "inherit" },
  );
}, 60_000);

afterAll(async () => {
  writer?.kill();
  await writer?.exited;
  await postfix?.stop();
  temp.cleanup();
});

function embeddedValue(): string | undefined {
  const query = Bun.spawnSync(["postmap", "-c", confDir, "-q", NAME, `hash:${confDir}/sni.map`], { stdout: "pipe", stderr: "pipe" });
  return query.exitCode === 0 ? Buffer.from(query.stdout.toString().trim(), "base64").toString() : undefined;
}

/** Which parts of a value are A's or B's, and its head and tail, for a failure message. */
function describeValue(value: string): string {
  const part = (text: string, of: "key" | "cert") => {
    const [a, b] = pairs.map((pair) => readFileSync(pair.made[`${of}File`], "utf8")) as [string, string];
    const label = (file: string) => (file === a ? "A" : "B");
    for (const file of [a, b]) {
      if (text === file) return `${of} ${label(file)}`;
      if (file.startsWith(text)) return `${of} ${label(file)} truncated to ${text.length} bytes`;
      // Read across a rewrite: the old file whole, then the new one's bytes past that offset.
      const other = file === a ? b : a;
      if (text === file + other.slice(file.length))
        return `${of} torn: ${label(file)}'s ${file.length} bytes, then ${label(other)}'s from there`;
    }
    return `${of} unknown (${text.length} bytes)`;
  };
  const split = value.indexOf("\n-----BEGIN CERTIFICATE-----");
  const classes = split < 0 ? "no certificate block" : `${part(value.slice(0, split), "key")} + ${part(value.slice(split + 1), "cert")}`;
  return `${value.length} bytes (${classes}); head ${JSON.stringify(value.slice(0, 80))}; tail ${JSON.stringify(value.slice(-80))}`;
}

/** Whether the run updated sni.map.db in place or built it in full, from its summary line. */
function buildPath(stderr: string): string {
  if (stderr.includes("updated in place")) return "in-place update (postmap -r -i)";
  if (stderr.includes("building it in full")) return "in-place update failed, then full build";
  if (stderr.includes("(unchanged:")) return "unchanged (no build)";
  return "full build (postmap -F over the private copy)";
}

test("a renewal racing sni-map, the command and reload never leaves a mixed or truncated pair", async () => {
  const tally = { runs: 0, failed: 0, bad: 0, a: 0, b: 0, dropped: 0, served: 0, aborted: 0, changedWarnings: 0, inPlace: 0 };
  const failures: string[] = [];
  const dropReasons = new Map<string, number>();
  const served = new Set([...pairs.map((pair) => pair.made.fingerprint)]);
  const judge = async (run: () => Promise<{ ok: boolean; stderr: string }>, label: string) => {
    const result = await run().catch((error: Error) => ({ ok: false, stderr: error.message }));
    tally.runs++;
    if (result.stderr.includes("changed while being read")) tally.changedWarnings++;
    if (result.stderr.includes("updated in place")) tally.inPlace++;
    if (!result.ok) {
      tally.failed++;
      failures.push(`${label}: ${result.stderr.slice(0, 300)}`);
      return;
    }
    const value = embeddedValue();
    if (value === undefined) {
      tally.dropped++;
      // Lines about this directory itself: the writer's staging dirs (NAME.new, NAME.old) are sources too.
      const lines = result.stderr.split("\n").filter((line) => line.includes(`${raced}: `));
      const reason =
        lines.length === 1 && /not mapped/.test(lines[0]!)
          ? lines[0]!.slice(lines[0]!.indexOf(raced) + raced.length + 2, lines[0]!.indexOf(";"))
          : `${lines.length} lines: ${lines.join(" | ")}; about its staging dirs: ${result.stderr
              .split("\n")
              .filter((line) => line.includes(`${raced}.`))
              .join(" | ")}`;
      dropReasons.set(reason, (dropReasons.get(reason) ?? 0) + 1);
    } else if (value === pairs[0]!.value) tally.a++;
    else if (value === pairs[1]!.value) tally.b++;
    else {
      tally.bad++;
      failures.push(
        `${label}: embedded value for ${NAME} is neither pair: ${describeValue(value)}; path: ${buildPath(result.stderr)}; log: ${result.stderr
          .split("\n")
          .filter((line) => line.includes(raced) || line.includes("sni-map:"))
          .join(" | ")
          .slice(0, 600)}`,
      );
    }
  };
  const engine = async () => {
    const log = createMemoryLogger();
    await updateSniMap({
      tools: testTools(),
      sslDir,
      confDir,
      hostname: "mail.example.test",
      log,
      cacheFile: join(temp.path, "spool", "cache.json"),
    });
    return { ok: true, stderr: log.lines.join("\n") };
  };
  const command = (name: string) => async () => {
    const run = await runCli([name, "--ssl-dir", sslDir, "--conf-dir", confDir], { MAILCOW_HOSTNAME: "mail.example.test" });
    return { ok: run.exitCode === 0, stderr: run.stderr };
  };
  for (let index = 0; index < RUNS_ENGINE; index++) await judge(engine, `engine run ${index}`);
  for (let index = 0; index < RUNS_COMMAND; index++) await judge(command("sni-map"), `sni-map run ${index}`);
  for (let index = 0; index < RUNS_RELOAD; index++) {
    await judge(command("reload"), `reload run ${index}`);
    const certificate = await servedCertificate(postfix.port, NAME).catch(() => undefined);
    if (certificate && (served.has(certificate.fingerprint) || certificate.fingerprint === fallback.fingerprint)) tally.served++;
    else {
      tally.aborted++;
      failures.push(`reload run ${index}: handshake for ${NAME} ${certificate ? "served an unknown certificate" : "failed"}`);
    }
  }
  console.log(`race: ${JSON.stringify(tally)}; left out: ${JSON.stringify([...dropReasons])}`);
  // Every name left out was left out with exactly one line saying why.
  expect([...dropReasons.keys()].filter((reason) => /^\d+ lines: /.test(reason))).toEqual([]);
  expect(failures).toEqual([]);
  expect(tally.runs).toBeGreaterThanOrEqual(500);
  // The writer really raced: both pairs were seen, and some reads saw files change.
  expect(tally.a).toBeGreaterThan(20);
  expect(tally.b).toBeGreaterThan(20);
  // Both ways of writing the table raced the writer.
  expect(tally.inPlace).toBeGreaterThan(20);
  expect(postfix.log()).not.toContain(`SNI data for ${NAME}: aborting`);
}, 600_000);

test("once the writer stops, each renewal after it is mapped by the next engine run, sni-map and reload, and served", async () => {
  writeFileSync(stopFile, "");
  expect(await writer.exited).toBe(0);
  // With a cache file, as in the container (the spool volume's): the table record may skip a build.
  const cacheFile = join(temp.path, "cache.json");
  const runs: [string, () => Promise<unknown>][] = [
    [
      "engine",
      () => updateSniMap({ tools: testTools(), sslDir, confDir, hostname: "mail.example.test", log: createMemoryLogger(), cacheFile }),
    ],
    ...["sni-map", "reload", "sni-map"].map(
      (command) =>
        [
          command,
          () =>
            runCli([command, "--ssl-dir", sslDir, "--conf-dir", confDir, "--cache-file", cacheFile], {
              MAILCOW_HOSTNAME: "mail.example.test",
            }),
        ] as [string, () => Promise<unknown>],
    ),
  ];
  for (const [label, run] of runs) {
    // A renewal to the pair not mapped now (cert.pem, then key.pem, in place), the run right after it.
    const next = pairs.find((pair) => pair.value !== embeddedValue())!;
    writeFileSync(join(raced, "cert.pem"), readFileSync(next.made.certFile));
    Bun.sleepSync(5);
    writeFileSync(join(raced, "key.pem"), readFileSync(next.made.keyFile));
    await run();
    expect(`${label}: ${embeddedValue() === next.value ? "the new pair" : "not the new pair"}`).toBe(`${label}: the new pair`);
  }
  const mapped = pairs.find((pair) => pair.value === embeddedValue())!;
  expect((await servedCertificate(postfix.port, NAME)).fingerprint).toBe(mapped.made.fingerprint);
}, 30_000);
