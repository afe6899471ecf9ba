import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { startEngine, stopEngine, run, type Engine } from "../support/docker.ts";
import { buildStandIns, ensureBaseImage, REPO, type StandIns } from "../support/docker-images.ts";
import { MailcowProject } from "../support/docker-compose.ts";
import { makeCertificate, makeCertificateDirectory, type MadeCertificate } from "../support/certs.ts";
import { makeCheckout, MAILCOW_GIT, updateSh, upstreamMovesPostfixTo, type Checkout } from "../support/mailcow-checkout.ts";
import { buildBase, DRIFT, driftedFingerprint } from "../support/new-base.ts";
import { BannerProbe, type Availability } from "../support/smtp-probe.ts";

// mailcow's REAL update.sh (`./update.sh --force --skip-ping-check`), offline, on a mailcow
// checkout whose origin gets upstream commits that move the postfix image: first with stock
// postfix-mailcow (measured), then with our override and hook installed once, across a base
// of a known shape, one whose startup logic this release does not know, and a known one
// again, with no command typed between the runs. SMTP availability is measured during each
// run. mailcow's files come from MPI_MAILCOW_GIT (a mailcow-dockerized git repository) at run
// time; without it this file is skipped (reported as skipped, never as passed).

const HOSTNAME = "mail.example.test";
const HOOK = join(REPO, "docker", "mailcow-postfix-init-hook");
const OURS = "local/mailcow-postfix-init";
const enabled = process.env.MPI_SKIP_CONTAINER_TESTS !== "1" && MAILCOW_GIT !== undefined;
if (!MAILCOW_GIT) console.warn("mailcow-update.test.ts skipped: set MPI_MAILCOW_GIT to a mailcow-dockerized git repository (mailcow's update.sh is not stored in this one)");

let engine: Engine | undefined;
let standIns: StandIns;
/** The postfix stand-in under a name update.sh's docker_garbage leaves alone (it removes ghcr.io/mailcow/* no longer named). */
const STAND_IN = "mpi-test/postfix-stand-in:latest";
let project: MailcowProject;
let checkout: Checkout;
let defaultCert: MadeCertificate;
let other: MadeCertificate;
const defaultNames = [HOSTNAME, "example.test"];
const otherNames = ["other.example.test"];
const measured: Record<string, Availability & { updateMs: number }> = {};

const inspect = async (ref: string) => JSON.parse((await engine!.docker(["inspect", ref])).stdout)[0];
const hookLines = (output: string) => output.split("\n").filter((line) => line.startsWith("mailcow-postfix-init-hook:"));

/** update.sh, with port 25 probed every 100 ms meanwhile; its output. */
async function measuredUpdate(name: string): Promise<string> {
  const probe = new BannerProbe(engine!, `${project.name}-unbound-mailcow-1`);
  await Bun.sleep(500);
  const update = await updateSh(checkout);
  await project.waitForBanner();
  measured[name] = { ...(await probe.stop()), updateMs: update.durationMs };
  const output = update.stdout + update.stderr;
  expect({ exitCode: update.exitCode, tail: update.exitCode === 0 ? "" : output.slice(-3000) }).toEqual({ exitCode: 0, tail: "" });
  return output;
}

/** A new base (the stand-in plus CHANGE), an upstream commit naming it, then the measured update.sh. */
async function upstreamUpdate(tag: string, name: string, change = "") {
  const base = await buildBase(engine!, STAND_IN, tag, change);
  await upstreamMovesPostfixTo(checkout, base);
  return { base, output: await measuredUpdate(name) };
}

/** What runs as postfix-mailcow: image reference, image ID, the stand-in's version label. */
async function running() {
  const container = await inspect(await project.containerId());
  const image = await inspect(container.Image);
  return { ref: container.Config.Image as string, id: container.Image as string, version: image.Config.Labels?.["test.mailcow.version"] as string | undefined };
}

async function expectRightCertificates() {
  const served = await project.served([...defaultNames, ...otherNames]);
  for (const name of defaultNames) expect({ name, served: served.get(name) }).toEqual({ name, served: defaultCert.fingerprint });
  for (const name of otherNames) expect({ name, served: served.get(name) }).toEqual({ name, served: other.fingerprint });
}

/** Every service runs (docker_garbage removed no image in use); nothing of ours in mailcow's git but the hook file. */
async function expectAllRunningAndOnlyTheHook() {
  const states = (await project.compose(["ps", "--all", "--format", "{{.Service}} {{.State}}"])).stdout.trim().split("\n").sort();
  expect(states).toEqual(["mysql-mailcow running", "postfix-mailcow running", "unbound-mailcow running"]);
  const changed = (await checkout.git(["diff", "--name-only", checkout.root])).stdout.split("\n");
  const untracked = (await checkout.git(["ls-files", "--others", "--exclude-standard"])).stdout.split("\n");
  // docker-compose.yml: mailcow's own upstream commits; main.cf: every start rewrites its tail (stock too).
  const ours = [...changed, ...untracked].filter((file) => file && !["docker-compose.yml", "data/conf/postfix/main.cf"].includes(file));
  expect(ours).toEqual(["post_update_hook.sh"]);
}

/** After an update to a known base: ours built on it runs, greets, serves, logs that it is current. */
async function expectOursOn(base: string) {
  const tag = base.slice(base.lastIndexOf(":") + 1);
  expect(await running()).toEqual({ ref: `${OURS}:${tag}`, id: expect.any(String), version: tag });
  expect(await project.waitForBanner()).toStartWith("220 ");
  await expectRightCertificates();
  expect(await project.logs()).toContain(`mailcow-postfix-init: built from ${base}, the postfix image mailcow's docker-compose.yml names`);
  await expectAllRunningAndOnlyTheHook();
}

describe.skipIf(!enabled)("mailcow's real update.sh, offline, with mailcow-postfix-init-hook", () => {
  beforeAll(async () => {
    engine = await startEngine();
    await ensureBaseImage(engine);
    standIns = await buildStandIns(engine);
    await engine.docker(["tag", standIns.postfixBase, STAND_IN]);
    const work = join(engine.root, "mailcow-update");
    mkdirSync(work, { recursive: true });
    project = MailcowProject.create(engine, "mailcowdockerized", { hostname: HOSTNAME, stock: true, dir: join(work, "mailcow-dockerized") });
    defaultCert = makeCertificate(project.sslDir, { names: defaultNames, keyType: "rsa" });
    other = makeCertificateDirectory(project.sslDir, "other.example.test", otherNames);
    checkout = await makeCheckout(engine, project.dir, work);
    await project.up();
    await project.waitForBanner();
  }, 900_000);

  afterAll(async () => {
    if (project) await project.down();
    if (engine) await stopEngine(engine);
    for (const [name, result] of Object.entries(measured)) console.log(`SMTP during update.sh, ${name}: ${JSON.stringify(result)}`);
  }, 180_000);

  test("stock: update.sh to a newer postfix image; mailcow's image runs it; SMTP outage measured", async () => {
    const { base } = await upstreamUpdate("3.10.13-1", "stock");
    expect(await running()).toEqual({ ref: base, id: (await inspect(base)).Id, version: "3.10.13-1" });
    expect(measured.stock!.longestOutageMs).toBeGreaterThan(0);
  }, 900_000);

  test("install: the override and the hook, once; ours on the current base", async () => {
    project.useOverride();
    // From here on, the hook's builds use the engine's host-network layer (this engine has no bridge).
    checkout.env.COMPOSE_FILE = ["docker-compose.yml", "docker-compose.override.yml", join(REPO, "docker", "test", "build-host-network.yml")].join(":");
    const install = await run([HOOK, "install"], { cwd: project.dir, env: checkout.env, timeoutMs: 900_000 });
    expect(hookLines(install.stdout).at(-1)).toStartWith("mailcow-postfix-init-hook: ours on ghcr.io/mailcow/postfix:3.10.13-1 in ");
    expect((await running()).ref).toBe(`${OURS}:3.10.13-1`);
    await expectRightCertificates();
  }, 900_000);

  test("update 1, a base of a known shape: ours rebuilt on it, switched, checked", async () => {
    const { base, output } = await upstreamUpdate("3.10.14-1", "ours, known base");
    expect(hookLines(output).at(-1)).toMatch(/^mailcow-postfix-init-hook: ours on ghcr\.io\/mailcow\/postfix:3\.10\.14-1 in \d+ s \(banner \d+ s after the switch\); serves example\.test mail\.example\.test other\.example\.test; /);
    await expectOursOn(base);
  }, 900_000);

  test("update 2, a base this release does not know: mailcow's own image and startup, one message", async () => {
    const { base, output } = await upstreamUpdate("3.10.15-1", "ours, unknown base -> stock", DRIFT);
    const lines = hookLines(output);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toStartWith(`mailcow-postfix-init-hook: mailcow's own image and startup on ${base} in `);
    expect(lines[0]).toContain(`because this release refused it (base fingerprint ${driftedFingerprint()}: `);
    expect(lines[0]).toEndWith(`Back to ours when a release knows the base: the next ./update.sh, or now: ${HOOK} run ${project.dir}`);
    expect(await running()).toEqual({ ref: `${OURS}:3.10.15-1-stock`, id: (await inspect(base)).Id, version: "3.10.15-1" });
    expect(await project.waitForBanner()).toStartWith("220 ");
    await expectRightCertificates();
    expect(await project.logs()).not.toContain("mailcow-postfix-init:");
    await expectAllRunningAndOnlyTheHook();
  }, 900_000);

  test("update 3, a known base again: back to ours with no command typed", async () => {
    const { base, output } = await upstreamUpdate("3.10.16-1", "ours, back from stock");
    expect(hookLines(output).at(-1)).toStartWith(`mailcow-postfix-init-hook: ours on ${base} in `);
    await expectOursOn(base);
  }, 900_000);
});
