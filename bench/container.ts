#!/usr/bin/env bun
// Container benchmark (not a timed test): image size of the image built from Dockerfile.postfix
// against the stand-in base it is built on, and container start -> SMTP banner for both, the
// base running its stock-shaped /opt/postfix.sh (test/fixtures/upstream-postfix.sh).
//
//   sudo node_modules/.bin/bun bench/container.ts [ROUNDS]
//
// Same private engine, base image and stand-ins as test/integration/container.test.ts.
// MariaDB and DNS sidecars are up before each measurement; one round = `docker start` of a
// stopped postfix-mailcow container on a volume that has seen one start already, until a
// client on 127.0.0.1:25 inside the namespace reads "220".

import { cpus } from "node:os";
import { startEngine, stopEngine, type Engine } from "../test/support/docker.ts";
import { buildStandIns, ensureBaseImage } from "../test/support/docker-images.ts";
import { MailcowProject } from "../test/support/docker-compose.ts";
import { makeCertificate, makeCertificateDirectory } from "../test/support/certs.ts";

const ROUNDS = Number(process.argv[2] ?? 5);
const HOSTNAME = "mail.example.test";

/** Runs in the DNS sidecar (it owns the namespace): wait for 220, print the time in ns. */
const WAIT_FOR_BANNER = `until (exec 3<>/dev/tcp/127.0.0.1/25 && read -r -t 2 line <&3 && [[ $line == 220* ]]) 2>/dev/null; do
  sleep 0.01
done
date +%s%N`;

async function startToBanner(project: MailcowProject): Promise<number> {
  const id = await project.containerId();
  const probeId = await project.containerId("unbound-mailcow");
  await project.engine.docker(["stop", "--time", "10", id]);
  const probe = project.engine.docker(["exec", probeId, "bash", "-c", WAIT_FOR_BANNER], { timeoutMs: 120_000 });
  await Bun.sleep(200); // the probe is polling before the container starts
  const startedNs = BigInt(Date.now()) * 1_000_000n;
  await project.engine.docker(["start", id]);
  const bannerNs = BigInt((await probe).stdout.trim());
  return Number(bannerNs - startedNs) / 1e6;
}

async function measure(engine: Engine, name: string, stock: boolean): Promise<number[]> {
  const project = MailcowProject.create(engine, name, { hostname: HOSTNAME, stock });
  makeCertificate(project.sslDir, { names: [HOSTNAME, "example.test"], keyType: "rsa" });
  for (let i = 0; i < 20; i++) makeCertificateDirectory(project.sslDir, `domain${i}.test`, [`mail.domain${i}.test`, `domain${i}.test`]);
  try {
    await project.up();
    await project.waitForBanner();
    const times: number[] = [];
    for (let round = 0; round < ROUNDS; round++) times.push(await startToBanner(project));
    return times;
  } finally {
    await project.down();
  }
}

async function imageSize(engine: Engine, tag: string): Promise<number> {
  return Number((await engine.docker(["image", "inspect", "--format", "{{.Size}}", tag])).stdout.trim());
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;

const engine = await startEngine();
try {
  await ensureBaseImage(engine);
  const standIns = await buildStandIns(engine);
  const image = await MailcowProject.create(engine, "build", { hostname: HOSTNAME }).build();
  const [ours, base] = [await imageSize(engine, image.image), await imageSize(engine, standIns.postfixBase)];
  const stockTimes = await measure(engine, "stock", true);
  const oursTimes = await measure(engine, "ours", false);
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  const show = (times: number[]) => `median ${median(times).toFixed(0)} ms (${times.map((t) => t.toFixed(0)).join(", ")})`;
  console.log(`machine: ${cpus().length} cores, ${cpu}; ${ROUNDS} rounds; 2 default names + 20 certificate directories`);
  console.log(`image size: ours ${mb(ours)} (${image.image}), stand-in base ${mb(base)} (${standIns.postfixBase}), +${mb(ours - base)}`);
  console.log(`start -> SMTP banner, stand-in base with its stock-shaped /opt/postfix.sh: ${show(stockTimes)}`);
  console.log(`start -> SMTP banner, ours (mailcow-postfix-init start):                   ${show(oursTimes)}`);
} finally {
  await stopEngine(engine);
}
