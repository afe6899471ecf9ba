#!/usr/bin/env bun
// Container benchmark (not a timed test): image size of the image built from Dockerfile.postfix
// against the stand-in base it is built on, and `docker start` -> SMTP banner for
//   - the stand-in base running its stock-shaped /opt/postfix.sh (test/fixtures/upstream-postfix.sh),
//     or, with MPI_POSTFIX_BASE_ARCHIVE (a `docker save` of mailcow's real postfix image), the
//     real image running mailcow's own /opt/postfix.sh,
//   - ours (entrypoint -> supervisord -> mailcow-postfix-init start -> exec master), with a
//     breakdown from the container's start time and `docker logs --timestamps`,
//   - the floor: the same image and volumes with Postfix's master as the container's only
//     process (`master -i`, PID 1) on the config ours has just prepared.
//
//   sudo node_modules/.bin/bun bench/container.ts [ROUNDS]
//
// Same private engine, base image and stand-ins as test/integration/container.test.ts.
// MariaDB and DNS sidecars are up before each measurement; one round = `docker start` of a
// stopped container on volumes that have seen one start already, until a client on
// 127.0.0.1:25 inside the namespace reads "220".

import { cpus } from "node:os";
import { startEngine, stopEngine, type Engine } from "../test/support/docker.ts";
import { buildStandIns, ensureBaseImage } from "../test/support/docker-images.ts";
import { MailcowProject } from "../test/support/docker-compose.ts";
import { makeCertificate, makeCertificateDirectory } from "../test/support/certs.ts";
import { preparedPhases } from "./prepared-line.ts";

const ROUNDS = Number(process.argv[2] ?? 5);
const HOSTNAME = "mail.example.test";
const BASE = process.env.MPI_POSTFIX_BASE_ARCHIVE ? "mailcow's real base" : "stand-in base";

/** Runs in the DNS sidecar (it owns the namespace): wait for 220, print the time in ns. */
const WAIT_FOR_BANNER = `until (exec 3<>/dev/tcp/127.0.0.1/25 && read -r -t 2 line <&3 && [[ $line == 220* ]]) 2>/dev/null; do
  sleep 0.01
done
date +%s%N`;

interface Round {
  bannerMs: number;
  /** Milliseconds from `docker start` to each stage, where the logs show it. */
  stages: Record<string, number>;
}

async function startToBanner(
  project: MailcowProject,
  id: string,
  others: readonly string[],
  stagesFrom?: (since: string, startedMs: number) => Promise<Record<string, number>>,
): Promise<Round> {
  const probeId = await project.containerId("unbound-mailcow");
  // Only the measured container runs Postfix (ours and the floor share a namespace and port 25).
  await project.engine.docker(["stop", "--time", "10", id, ...others]);
  const probe = project.engine.docker(["exec", probeId, "bash", "-c", WAIT_FOR_BANNER], { timeoutMs: 120_000 });
  await Bun.sleep(200); // the probe is polling before the container starts
  const startedMs = Date.now();
  const since = new Date(startedMs - 1000).toISOString();
  await project.engine.docker(["start", id]);
  const bannerMs = Number(BigInt((await probe).stdout.trim()) / 1_000_000n) - startedMs;
  return { bannerMs, stages: stagesFrom ? await stagesFrom(since, startedMs) : {} };
}

/** Stage times of our start from the container's StartedAt and its timestamped log lines. */
function ourStages(engine: Engine, id: string) {
  return async (since: string, startedMs: number): Promise<Record<string, number>> => {
    const state = JSON.parse((await engine.docker(["inspect", id])).stdout)[0].State;
    // RFC 3339 with nanoseconds; Date.parse wants at most milliseconds.
    const parse = (stamp: string) => Date.parse(stamp.replace(/(\.\d{3})\d*/, "$1"));
    // The entrypoint writes to the container's stderr, supervisord and its programs to stdout.
    const written = await engine.docker(["logs", "--timestamps", "--since", since, id]);
    const logs = `${written.stdout}\n${written.stderr}`.split("\n");
    const at = (pattern: RegExp) => {
      const line = logs.find((entry) => pattern.test(entry));
      return line ? parse(line.split(" ")[0]!) - startedMs : Number.NaN;
    };
    const prepared = preparedPhases(logs.join("\n"));
    return {
      "container running (entrypoint)": parse(state.StartedAt) - startedMs,
      "entrypoint execs supervisord": at(/mailcow-postfix-init: exec \/usr\/bin\/supervisord/),
      "supervisord started": at(/supervisord started with pid/),
      "supervisord spawned start": at(/spawned: 'postfix'/),
      "exec into master": at(/starting Postfix: exec/),
      "(start's own account: process start -> exec)": prepared?.total ?? Number.NaN,
      "(start's own account without the database and DNS waits)": prepared?.["total without the waits"] ?? Number.NaN,
    };
  };
}

/** A mailcow-like project with its certificates, up once (the volumes have seen one start). */
async function setUp(engine: Engine, name: string, stock: boolean): Promise<{ project: MailcowProject; id: string }> {
  const project = MailcowProject.create(engine, name, { hostname: HOSTNAME, stock });
  makeCertificate(project.sslDir, { names: [HOSTNAME, "example.test"], keyType: "rsa" });
  for (let i = 0; i < 20; i++) makeCertificateDirectory(project.sslDir, `domain${i}.test`, [`mail.domain${i}.test`, `domain${i}.test`]);
  await project.up();
  await project.waitForBanner();
  return { project, id: await project.containerId() };
}

/** The floor: our image, our volumes and config, master as PID 1 and nothing else (created, not started). */
async function createFloor(engine: Engine, ours: MailcowProject, oursId: string, image: string): Promise<string> {
  const dnsId = await ours.containerId("unbound-mailcow");
  const created = await engine.docker([
    "create",
    "--network",
    `container:${dnsId}`,
    "--volumes-from",
    oursId,
    "--entrypoint",
    "/usr/lib/postfix/sbin/master",
    image,
    "-i",
    "-c",
    "/opt/postfix/conf",
  ]);
  return created.stdout.trim();
}

async function imageSize(engine: Engine, tag: string): Promise<number> {
  return Number((await engine.docker(["image", "inspect", "--format", "{{.Size}}", tag])).stdout.trim());
}

const median = (values: number[]) => {
  const known = values.filter((value) => !Number.isNaN(value)).sort((a, b) => a - b);
  return known.length === 0 ? Number.NaN : known[Math.floor(known.length / 2)]!;
};
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;
const show = (rounds: Round[]) =>
  `median ${median(rounds.map((r) => r.bannerMs)).toFixed(0)} ms (${rounds.map((r) => r.bannerMs.toFixed(0)).join(", ")})`;

const engine = await startEngine();
const projects: MailcowProject[] = [];
try {
  await ensureBaseImage(engine);
  const standIns = await buildStandIns(engine);
  const image = await MailcowProject.create(engine, "build", { hostname: HOSTNAME }).build();
  const [oursSize, baseSize] = [await imageSize(engine, image.image), await imageSize(engine, standIns.postfixBase)];
  const stockSetup = await setUp(engine, "stock", true);
  projects.push(stockSetup.project);
  const oursSetup = await setUp(engine, "ours", false);
  projects.push(oursSetup.project);
  const floorId = await createFloor(engine, oursSetup.project, oursSetup.id, image.image);
  // Paired: every round starts ours, the floor and stock one after the other, on the same machine state.
  const ours = { rounds: [] as Round[] };
  const floor: Round[] = [];
  const stock = { rounds: [] as Round[] };
  const all = [oursSetup.id, floorId, stockSetup.id];
  const othersThan = (id: string) => all.filter((other) => other !== id);
  for (let round = 0; round < ROUNDS; round++) {
    ours.rounds.push(await startToBanner(oursSetup.project, oursSetup.id, othersThan(oursSetup.id), ourStages(engine, oursSetup.id)));
    floor.push(await startToBanner(oursSetup.project, floorId, othersThan(floorId)));
    stock.rounds.push(await startToBanner(stockSetup.project, stockSetup.id, othersThan(stockSetup.id)));
  }
  await engine.docker(["rm", "-f", floorId], { allowFailure: true });
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  console.log(`machine: ${cpus().length} cores, ${cpu}; ${ROUNDS} rounds; 2 default names + 20 certificate directories`);
  console.log(
    `image size: ours ${mb(oursSize)} (${image.image}), ${BASE} ${mb(baseSize)} (${standIns.postfixBase}), +${mb(oursSize - baseSize)}`,
  );
  console.log(
    `docker start -> SMTP banner, ${BASE} with its ${process.env.MPI_POSTFIX_BASE_ARCHIVE ? "own" : "stock-shaped"} /opt/postfix.sh: ${show(stock.rounds)}`,
  );
  console.log(`docker start -> SMTP banner, ours (entrypoint, supervisord, start, exec master):  ${show(ours.rounds)}`);
  console.log(`docker start -> SMTP banner, floor (same image and volumes, master -i as PID 1): ${show(floor)}`);
  console.log(
    `ours minus floor (medians): ${(median(ours.rounds.map((r) => r.bannerMs)) - median(floor.map((r) => r.bannerMs))).toFixed(0)} ms`,
  );
  for (const stage of Object.keys(ours.rounds[0]?.stages ?? {})) {
    console.log(`  ours, docker start -> ${stage}: median ${median(ours.rounds.map((r) => r.stages[stage]!)).toFixed(0)} ms`);
  }
} finally {
  for (const project of projects) await project.down();
  await stopEngine(engine);
}
