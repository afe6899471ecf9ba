// Benchmark (not a test): `mailcow-postfix-init sni-map` on 10,000 names in 2,000 certificate
// directories, against the floor `postmap -F` alone on the same map, in the same run.
// Usage: bun bench/sni-map.ts [--runs N] [--shell] [--baseline BINARY]   (build first: npm run build)
//   --shell also times a shell loop doing what mailcow's script does (append per name), once.
//   --baseline also times another build (e.g. of an older commit) warm, cold and --dry-run, interleaved.
// In mailcow's own image (its Postfix and OpenSSL; the host's GNU time mounted for peak memory):
//   docker run --rm --network none -v "$PWD:$PWD" -w "$PWD" -v /usr/bin/time:/usr/bin/time:ro \
//     --entrypoint node_modules/.bin/bun ghcr.io/mailcow/postfix:TAG bench/sni-map.ts --runs 7
// Two trees: `distinct` (a certificate per directory, each covering its names) and `same-cert`
// (every directory holds the same certificate, which covers none of its names: 2,000
// "does not cover" warnings). All measurements of a run are interleaved, so they see the same
// machine state; wall time is what the targets are about, CPU time (user + system of the
// child) is given beside it because it moves less when other work shares the machine.
// Beside them, bench/cold-minimum.ts, compiled as the product is: the least work a first start
// must do with this runtime (read, load through OpenSSL, feed postmap), with none of sni-map's
// bookkeeping, so a cold run's cost splits into what the job needs and what sni-map adds.
import { cpus, loadavg } from "node:os";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, copyFileSync, utimesSync } from "node:fs";
import { join, resolve } from "node:path";
import { compareKeys, createPostfixTools, postmapKeys, readHashDbKeys } from "../src/postfix/index.ts";
import { mapKeys } from "../src/sni/write.ts";
import { buildCommand } from "./build-command.ts";

const REPO = resolve(import.meta.dir, "..");
const BINARY = join(REPO, "dist/mailcow-postfix-init");
const WORK = join(REPO, ".bench/sni-map");
const MINIMUM = join(WORK, "cold-minimum");
const DIRECTORIES = 2_000;
const NAMES_PER_DIRECTORY = 5;
const KEY_POOL = 20;
const HOSTNAME = "mail.example.test";
const args = process.argv.slice(2);
const runs = Number(args[args.indexOf("--runs") + 1] ?? 0) || 7;
const baseline = args.includes("--baseline") ? resolve(args[args.indexOf("--baseline") + 1]!) : undefined;

interface Timed {
  ms: number;
  cpuMs: number;
  /** Peak resident memory of the process (KiB), from /usr/bin/time where there is one. */
  peakKb?: number;
  stderr: string;
}

// GNU time's %M is the child's own peak (Bun's resourceUsage.maxRSS reads high for small
// children). mailcow's image has no /usr/bin/time: mount the host's (see docs/performance.md).
const TIME = existsSync("/usr/bin/time") ? "/usr/bin/time" : undefined;
const PEAK_FILE = join(WORK, ".peak");

function sh(argv: string[]): Timed {
  const wrapped = TIME ? [TIME, "-f", "%M", "-o", PEAK_FILE, ...argv] : argv;
  const started = performance.now();
  const result = Bun.spawnSync(wrapped, { stderr: "pipe", stdout: "ignore" });
  const ms = performance.now() - started;
  if (result.exitCode !== 0) throw new Error(`${argv.join(" ")} failed: ${result.stderr.toString()}`);
  const peakKb = TIME ? Number(readFileSync(PEAK_FILE, "utf8").trim().split("\n").at(-1)) : undefined;
  return { ms, cpuMs: Number(result.resourceUsage?.cpuTime.total ?? 0n) / 1000, peakKb, stderr: result.stderr.toString() };
}

function directoryNames(index: number): string[] {
  const domain = `domain${String(index).padStart(4, "0")}.example`;
  return [domain, `mail.${domain}`, `autodiscover.${domain}`, `autoconfig.${domain}`, `mta-sts.${domain}`].slice(0, NAMES_PER_DIRECTORY);
}

function selfSigned(key: string, out: string, names: string[]): void {
  sh([
    "openssl",
    "req",
    "-x509",
    "-key",
    key,
    "-out",
    out,
    "-days",
    "3650",
    "-subj",
    `/CN=${names[0]}`,
    "-addext",
    `subjectAltName=${names.map((name) => `DNS:${name}`).join(",")}`,
  ]);
}

/**
 * `distinct`: 2,000 RSA-2048 certificates (keys from a pool of 20: keygen would dominate the
 * setup). `same-cert`: the default pair copied into 2,000 directories. Made once.
 */
function ensureTrees(): { distinct: string; sameCert: string } {
  const distinct = join(WORK, "ssl");
  const sameCert = join(WORK, "ssl-same-cert");
  const keys = join(WORK, "keys");
  if (!existsSync(join(distinct, ".complete"))) {
    rmSync(WORK, { recursive: true, force: true });
    mkdirSync(keys, { recursive: true });
    mkdirSync(distinct, { recursive: true });
    console.error(`making ${DIRECTORIES} certificate directories in ${distinct} (once)...`);
    for (let index = 0; index < KEY_POOL; index++) sh(["openssl", "genrsa", "-out", join(keys, `${index}.pem`), "2048"]);
    selfSigned(join(keys, "0.pem"), join(distinct, "cert.pem"), [HOSTNAME, "example.test"]);
    // A second certificate for the default key: a renewal swaps it in (warm runs).
    selfSigned(join(keys, "0.pem"), join(WORK, "renewed-cert.pem"), [HOSTNAME, "example.test"]);
    copyFileSync(join(keys, "0.pem"), join(distinct, "key.pem"));
    for (let index = 0; index < DIRECTORIES; index++) {
      const names = directoryNames(index);
      const dir = join(distinct, names[0]!);
      mkdirSync(dir, { recursive: true });
      const key = join(keys, `${index % KEY_POOL}.pem`);
      copyFileSync(key, join(dir, "key.pem"));
      selfSigned(key, join(dir, "cert.pem"), names);
      writeFileSync(join(dir, "domains"), names.join(" "));
    }
    writeFileSync(join(distinct, ".complete"), "");
  }
  if (!existsSync(join(sameCert, ".complete"))) {
    rmSync(sameCert, { recursive: true, force: true });
    mkdirSync(sameCert, { recursive: true });
    console.error(`making ${DIRECTORIES} directories holding the same certificate in ${sameCert} (once)...`);
    for (const file of ["cert.pem", "key.pem"]) copyFileSync(join(distinct, file), join(sameCert, file));
    for (let index = 0; index < DIRECTORIES; index++) {
      const names = directoryNames(index);
      const dir = join(sameCert, names[0]!);
      mkdirSync(dir, { recursive: true });
      for (const file of ["cert.pem", "key.pem"]) copyFileSync(join(distinct, file), join(dir, file));
      writeFileSync(join(dir, "domains"), names.join(" "));
    }
    writeFileSync(join(sameCert, ".complete"), "");
  }
  return { distinct, sameCert };
}

function confDir(name: string): string {
  const dir = join(WORK, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "main.cf"), "compatibility_level = 3.6\nmyhostname = mail.example.test\n");
  // Postfix re-reads a main.cf younger than ~2 s until it settles; date it back.
  const past = new Date(Date.now() - 60_000);
  utimesSync(join(dir, "main.cf"), past, past);
  return dir;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const series = () => ({ ms: [] as number[], cpuMs: [] as number[], peakKb: [] as number[] });
type Series = ReturnType<typeof series>;
const record = (into: Series, timed: Timed) => {
  into.ms.push(timed.ms);
  into.cpuMs.push(timed.cpuMs);
  if (timed.peakKb !== undefined) into.peakKb.push(timed.peakKb);
};
/** Median peak memory in MiB, or undefined without /usr/bin/time. */
const peakMib = (of: Series) => (of.peakKb.length > 0 ? Math.round(median(of.peakKb) / 1024) : undefined);
/** Medians of the per-round ratios of A to B (pairs taken round by round, as the runs were interleaved). */
const pairedRatio = (a: number[], b: number[]) => Number(median(a.map((value, index) => value / b[index]!)).toFixed(2));

/** One tree's measurements: the floor and our three modes on the same map. */
function prepareTree(name: string, sslDir: string) {
  const ours = confDir(`conf-${name}-ours`);
  const floor = confDir(`conf-${name}-floor`);
  // The validation cache where a container keeps it: outside the conf dir (--cache-file here).
  const sniMap = [
    BINARY,
    "sni-map",
    "--ssl-dir",
    sslDir,
    "--conf-dir",
    ours,
    "--hostname",
    HOSTNAME,
    "--cache-file",
    join(ours, "cache", "validation.json"),
  ];
  const first = sh(sniMap);
  const baselineConf = baseline ? confDir(`conf-${name}-baseline`) : undefined;
  const baselineSniMap =
    baseline && baselineConf ? [baseline, "sni-map", "--ssl-dir", sslDir, "--conf-dir", baselineConf, "--hostname", HOSTNAME] : undefined;
  if (baselineSniMap) sh(baselineSniMap);
  const map = readFileSync(join(ours, "sni.map"), "utf8");
  writeFileSync(join(floor, "sni.map"), map);
  // The minimum builds the same table (checked once here): the same names, each with a value.
  const minimum = confDir(`conf-${name}-minimum`);
  const minimumBuild = [MINIMUM, sslDir, minimum, HOSTNAME, ...defaultCertificateNames(map, sslDir)];
  sh(minimumBuild);
  const minimumKeys = readHashDbKeys(join(minimum, "sni.map.db"));
  if (!minimumKeys || compareKeys(mapKeys(map), minimumKeys)) throw new Error(`cold-minimum built other keys than sni-map in ${minimum}`);
  // Renewed before each warm run: the default certificate, which every map embeds.
  const renewedCert = join(sslDir, "cert.pem");
  const alternateCert = join(WORK, `renewed-${name}.pem`);
  if (!existsSync(alternateCert)) copyFileSync(join(WORK, "renewed-cert.pem"), alternateCert);
  return {
    alternateCert,
    name,
    sslDir,
    renewedCert,
    ours,
    floor,
    sniMap,
    baselineConf,
    baselineSniMap,
    baselineWarm: series(),
    baselineCold: series(),
    baselineDry: series(),
    minimumBuild,
    minimum: series(),
    lines: map.split("\n").filter(Boolean).length,
    warnings: first.stderr.split("\n").filter((line) => line.includes(": warning: ")).length,
    floorRuns: series(),
    unchanged: series(),
    warm: series(),
    cold: series(),
    dry: series(),
    keysDirect: [] as number[],
    keysPostmapS: [] as number[],
  };
}

/** The names sni-map gave the default pair (the hostname and the default certificate's names). */
function defaultCertificateNames(map: string, sslDir: string): string[] {
  return map
    .split("\n")
    .filter((line) => line.endsWith(` ${join(sslDir, "cert.pem")}`))
    .map((line) => line.split(" ")[0]!)
    .filter((name) => name !== HOSTNAME);
}

if (!existsSync(BINARY)) throw new Error(`build first: npm run build (${BINARY} missing)`);
const trees = ensureTrees();
sh(buildCommand([join(REPO, "bench/cold-minimum.ts")], MINIMUM));
const measured = [prepareTree("distinct", trees.distinct), prepareTree("same-cert", trees.sameCert)];

for (let run = 0; run < runs; run++) {
  for (const tree of measured) {
    // Interleaved, so all see the same machine state.
    record(tree.floorRuns, sh(["postmap", "-c", tree.floor, "-F", `hash:${join(tree.floor, "sni.map")}`]));
    // Cold: a first start (no validation cache, no record of the table): all 2,001 pairs parsed
    // and checked, the table built.
    rmSync(join(tree.ours, "cache"), { recursive: true, force: true });
    record(tree.cold, sh(tree.sniMap));
    record(tree.minimum, sh(tree.minimumBuild));
    // A restart with nothing changed: the table in place is current, no postmap -F at all.
    record(tree.unchanged, sh(tree.sniMap));
    // Warm: one certificate renewed (new content: the default pair's, which every map embeds),
    // every other verdict cached, the table built again: what a restart costs when postmap -F
    // must run. The two versions of the certificate take turns.
    const previous = readFileSync(tree.renewedCert);
    copyFileSync(tree.alternateCert, tree.renewedCert);
    writeFileSync(tree.alternateCert, previous);
    await Bun.sleep(60); // older than the judge's settle time, as a renewal normally is
    record(tree.warm, sh(tree.sniMap));
    record(tree.dry, sh([BINARY, "sni-map", "--dry-run", "--ssl-dir", tree.sslDir, "--hostname", HOSTNAME]));
    if (tree.baselineSniMap && tree.baselineConf) {
      record(tree.baselineWarm, sh(tree.baselineSniMap));
      rmSync(join(tree.baselineConf, ".sni-validation-cache.json"), { force: true });
      record(tree.baselineCold, sh(tree.baselineSniMap));
      record(tree.baselineDry, sh([baseline!, "sni-map", "--dry-run", "--ssl-dir", tree.sslDir, "--hostname", HOSTNAME]));
    }
    // The post-build key check alone, on the floor's fresh .db: read directly, and postmap -s.
    const mapFile = join(tree.floor, "sni.map");
    const expected = mapKeys(readFileSync(mapFile, "utf8"));
    let started = performance.now();
    const direct = readHashDbKeys(`${mapFile}.db`);
    if (!direct || compareKeys(expected, direct)) throw new Error(`direct key read did not confirm ${mapFile}.db`);
    tree.keysDirect.push(performance.now() - started);
    started = performance.now();
    if (
      compareKeys(
        expected,
        await postmapKeys(createPostfixTools({ configDir: tree.floor, env: process.env }), `hash:${mapFile}`, ["-c", tree.floor]),
      )
    )
      throw new Error(`postmap -s disagrees on ${mapFile}.db`);
    tree.keysPostmapS.push(performance.now() - started);
  }
}

let shellMs: number | undefined;
if (args.includes("--shell")) {
  // Our own shell rendition of the per-name append loop (what the stock startup does), then postmap -F.
  const shellConf = confDir("conf-shell");
  const script = `: > "$1/sni.map"; for d in "$2"/*/; do [ -f "$d/domains" ] && [ -f "$d/cert.pem" ] && [ -f "$d/key.pem" ] || continue; for n in $(cat "$d/domains"); do printf '%s %skey.pem %scert.pem' "$n" "$d" "$d" >> "$1/sni.map"; echo >> "$1/sni.map"; done; done; postmap -c "$1" -F "hash:$1/sni.map"`;
  shellMs = sh(["bash", "-c", script, "bench", shellConf, trees.distinct]).ms;
}

const round = (value: number) => Math.round(value);
const ratio = (value: number, floor: number) => Number((value / floor).toFixed(2));
const firstLine = (argv: string[]) => Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" }).stdout.toString().split("\n")[0]!.trim();
const report = {
  machine: `${cpus().length} cores, ${cpus()[0]?.model ?? "unknown"}; load average ${loadavg()
    .map((value) => value.toFixed(1))
    .join(" ")} at the end`,
  system: `${firstLine(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"])}; Postfix ${firstLine(["postconf", "-d", "-h", "mail_version"])}; ${firstLine(["openssl", "version"])}`,
  runs,
  trees: Object.fromEntries(
    measured.map((tree) => {
      const floor = median(tree.floorRuns.ms);
      return [
        tree.name,
        {
          directories: DIRECTORIES,
          mapLines: tree.lines,
          warningLines: tree.warnings,
          postmapFloorMs: round(floor),
          sniMapUnchangedMs: round(median(tree.unchanged.ms)),
          unchangedRatio: ratio(median(tree.unchanged.ms), floor),
          sniMapWarmMs: round(median(tree.warm.ms)),
          warmRatio: ratio(median(tree.warm.ms), floor),
          sniMapColdMs: round(median(tree.cold.ms)),
          coldRatio: ratio(median(tree.cold.ms), floor),
          sniMapDryRunMs: round(median(tree.dry.ms)),
          coldMinimumMs: round(median(tree.minimum.ms)),
          coldMinimumRatio: ratio(median(tree.minimum.ms), floor),
          pairedRatios: {
            unchanged: pairedRatio(tree.unchanged.ms, tree.floorRuns.ms),
            warm: pairedRatio(tree.warm.ms, tree.floorRuns.ms),
            cold: pairedRatio(tree.cold.ms, tree.floorRuns.ms),
            coldMinimum: pairedRatio(tree.minimum.ms, tree.floorRuns.ms),
          },
          peakMiB: {
            floor: peakMib(tree.floorRuns),
            unchanged: peakMib(tree.unchanged),
            warm: peakMib(tree.warm),
            cold: peakMib(tree.cold),
            coldMinimum: peakMib(tree.minimum),
          },
          cpuMs: {
            floor: round(median(tree.floorRuns.cpuMs)),
            unchanged: round(median(tree.unchanged.cpuMs)),
            warm: round(median(tree.warm.cpuMs)),
            cold: round(median(tree.cold.cpuMs)),
            dryRun: round(median(tree.dry.cpuMs)),
            coldMinimum: round(median(tree.minimum.cpuMs)),
          },
          keyCheckMs: { directRead: Number(median(tree.keysDirect).toFixed(1)), postmapS: round(median(tree.keysPostmapS)) },
          ...(baseline
            ? {
                baseline: {
                  binary: baseline,
                  warmMs: round(median(tree.baselineWarm.ms)),
                  warmRatio: ratio(median(tree.baselineWarm.ms), floor),
                  coldMs: round(median(tree.baselineCold.ms)),
                  coldRatio: ratio(median(tree.baselineCold.ms), floor),
                  dryRunMs: round(median(tree.baselineDry.ms)),
                  dryRunCpuMs: round(median(tree.baselineDry.cpuMs)),
                },
              }
            : {}),
        },
      ];
    }),
  ),
  ...(shellMs === undefined ? {} : { shellLoopMs: round(shellMs) }),
};
console.log(JSON.stringify(report, null, 2));
