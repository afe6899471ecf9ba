// Benchmark (not a test): `mailcow-postfix-init sni-map` on 10,000 names in 2,000 certificate
// directories, against the floor `postmap -F` alone on the same map, in the same run.
// Usage: bun bench/sni-map.ts [--runs N] [--shell]   (build first: npm run build)
//   --shell also times a shell loop doing what mailcow's script does (append per name), once.
import { cpus } from "node:os";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, copyFileSync, utimesSync } from "node:fs";
import { join, resolve } from "node:path";

const REPO = resolve(import.meta.dir, "..");
const BINARY = join(REPO, "dist/mailcow-postfix-init");
const WORK = join(REPO, ".bench/sni-map");
const SSL = join(WORK, "ssl");
const DIRECTORIES = 2_000;
const NAMES_PER_DIRECTORY = 5;
const KEY_POOL = 20;
const args = process.argv.slice(2);
const runs = Number(args[args.indexOf("--runs") + 1] ?? 0) || 7;

function sh(argv: string[], options: { env?: Record<string, string> } = {}): { ms: number; stderr: string } {
  const started = performance.now();
  const result = Bun.spawnSync(argv, { stderr: "pipe", stdout: "ignore", env: { ...process.env, ...options.env } });
  const ms = performance.now() - started;
  if (result.exitCode !== 0) throw new Error(`${argv.join(" ")} failed: ${result.stderr.toString()}`);
  return { ms, stderr: result.stderr.toString() };
}

/** 2,000 RSA-2048 certificates (keys from a pool of 20: keygen would dominate the setup), made once. */
function ensureTree(): void {
  const marker = join(SSL, ".complete");
  if (existsSync(marker)) return;
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(join(WORK, "keys"), { recursive: true });
  mkdirSync(SSL, { recursive: true });
  console.error(`making ${DIRECTORIES} certificate directories in ${SSL} (once)...`);
  for (let index = 0; index < KEY_POOL; index++) sh(["openssl", "genrsa", "-out", join(WORK, "keys", `${index}.pem`), "2048"]);
  const names = ["mail.example.test", "example.test"];
  sh(["openssl", "req", "-x509", "-key", join(WORK, "keys/0.pem"), "-out", join(SSL, "cert.pem"), "-days", "3650", "-subj", "/CN=mail.example.test", "-addext", `subjectAltName=${names.map((name) => `DNS:${name}`).join(",")}`]);
  copyFileSync(join(WORK, "keys/0.pem"), join(SSL, "key.pem"));
  for (let index = 0; index < DIRECTORIES; index++) {
    const domain = `domain${String(index).padStart(4, "0")}.example`;
    const dir = join(SSL, domain);
    mkdirSync(dir, { recursive: true });
    const dirNames = [domain, `mail.${domain}`, `autodiscover.${domain}`, `autoconfig.${domain}`, `mta-sts.${domain}`].slice(0, NAMES_PER_DIRECTORY);
    const key = join(WORK, "keys", `${index % KEY_POOL}.pem`);
    copyFileSync(key, join(dir, "key.pem"));
    sh(["openssl", "req", "-x509", "-key", key, "-out", join(dir, "cert.pem"), "-days", "3650", "-subj", `/CN=${domain}`, "-addext", `subjectAltName=${dirNames.map((name) => `DNS:${name}`).join(",")}`]);
    writeFileSync(join(dir, "domains"), dirNames.join(" "));
  }
  writeFileSync(marker, "");
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

if (!existsSync(BINARY)) throw new Error(`build first: npm run build (${BINARY} missing)`);
ensureTree();
const ours = confDir("conf-ours");
const floor = confDir("conf-floor");
sh([BINARY, "sni-map", "--ssl-dir", SSL, "--conf-dir", ours, "--hostname", "mail.example.test"]);
const map = readFileSync(join(ours, "sni.map"), "utf8");
const lines = map.split("\n").filter(Boolean).length;
writeFileSync(join(floor, "sni.map"), map);

const oursMs: number[] = [];
const coldMs: number[] = [];
const floorMs: number[] = [];
const sniMap = [BINARY, "sni-map", "--ssl-dir", SSL, "--conf-dir", ours, "--hostname", "mail.example.test"];
for (let run = 0; run < runs; run++) {
  // Interleaved, so all three see the same machine state.
  floorMs.push(sh(["postmap", "-c", floor, "-F", `hash:${join(floor, "sni.map")}`]).ms);
  // Warm: a restart with unchanged certificates (validation results cached by file identity).
  oursMs.push(sh(sniMap).ms);
  // Cold: first start, or every certificate renewed: all 2,001 pairs parsed and checked.
  rmSync(join(ours, ".sni-validation-cache.json"), { force: true });
  coldMs.push(sh(sniMap).ms);
}
const dryMs: number[] = [];
for (let run = 0; run < runs; run++) {
  dryMs.push(sh(["sh", "-c", `"${BINARY}" sni-map --dry-run --ssl-dir "${SSL}" --hostname mail.example.test > /dev/null`]).ms);
}

let shellMs: number | undefined;
if (args.includes("--shell")) {
  // Our own shell rendition of the per-name append loop (what the stock startup does), then postmap -F.
  const shellConf = confDir("conf-shell");
  const script = `: > "$1/sni.map"; for d in "$2"/*/; do [ -f "$d/domains" ] && [ -f "$d/cert.pem" ] && [ -f "$d/key.pem" ] || continue; for n in $(cat "$d/domains"); do printf '%s %skey.pem %scert.pem' "$n" "$d" "$d" >> "$1/sni.map"; echo >> "$1/sni.map"; done; done; postmap -c "$1" -F "hash:$1/sni.map"`;
  shellMs = sh(["bash", "-c", script, "bench", shellConf, SSL]).ms;
}

const cpu = cpus()[0]?.model ?? "unknown";
const report = {
  machine: `${cpus().length} cores, ${cpu}`,
  directories: DIRECTORIES,
  mapLines: lines,
  runs,
  postmapFloorMs: Math.round(median(floorMs)),
  sniMapWarmMs: Math.round(median(oursMs)),
  warmRatio: Number((median(oursMs) / median(floorMs)).toFixed(2)),
  sniMapColdMs: Math.round(median(coldMs)),
  coldRatio: Number((median(coldMs) / median(floorMs)).toFixed(2)),
  sniMapDryRunMs: Math.round(median(dryMs)),
  ...(shellMs === undefined ? {} : { shellLoopMs: Math.round(shellMs) }),
};
console.log(JSON.stringify(report, null, 2));
