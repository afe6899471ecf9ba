import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startEngine, stopEngine, run, type Engine } from "../support/docker.ts";
import { buildAcmeStandIns, buildStandIns, ensureBaseImage, REPO, type StandIns } from "../support/docker-images.ts";
import { MailcowProject } from "../support/docker-compose.ts";
import { makeCertificate, makeCertificateDirectory, type MadeCertificate } from "../support/certs.ts";
import { makeCheckout, MAILCOW_GIT, updateSh, upstreamMovesPostfixTo, type Checkout } from "../support/mailcow-checkout.ts";
import { buildBase, DRIFT, driftedFingerprint } from "../support/new-base.ts";
import { BannerProbe, type Availability } from "../support/smtp-probe.ts";
import { measuredRenewal, renewedCertificate, writeAcmeSrv, type Renewal } from "../support/mailcow-acme.ts";

// mailcow's REAL update.sh (`./update.sh --force --skip-ping-check`), offline, on a mailcow
// checkout whose origin gets upstream commits that move the postfix image, with mailcow's 18
// containers (stand-ins for the 16 besides postfix-mailcow and its DNS, docker/test/whole-
// stack.yml): first with stock postfix-mailcow (measured), then with our override and hook
// installed once, across a base of a known shape, one whose startup logic this release does
// not know, and a known one again, with no command typed between the runs. SMTP availability
// is measured during each run. Certificate renewals run mailcow's REAL acme scripts
// (test/support/mailcow-acme.ts) against stock and against ours. mailcow's files come from
// MPI_MAILCOW_GIT (a mailcow-dockerized git repository) at run time; without it this file is
// skipped (reported as skipped, never as passed).

const HOSTNAME = "mail.example.test";
const HOOK = join(REPO, "docker", "mailcow-postfix-init-hook");
const WHOLE_STACK = join(REPO, "docker", "test", "whole-stack.yml");
const BUILD_ON_HOST_NETWORK = join(REPO, "docker", "test", "build-host-network.yml");
const OURS = "local/mailcow-postfix-init";
const enabled = process.env.MPI_SKIP_CONTAINER_TESTS !== "1" && MAILCOW_GIT !== undefined;
if (!MAILCOW_GIT)
  console.warn(
    "mailcow-update.test.ts skipped: set MPI_MAILCOW_GIT to a mailcow-dockerized git repository (mailcow's update.sh is not stored in this one)",
  );

let engine: Engine | undefined;
let standIns: StandIns;
/** The postfix stand-in under a name update.sh's docker_garbage leaves alone (it removes ghcr.io/mailcow/* no longer named). */
const STAND_IN = "mpi-test/postfix-stand-in:latest";
let project: MailcowProject;
let checkout: Checkout;
let defaultCert: MadeCertificate;
/** The default certificate's fingerprint, as renewals change it. */
let defaultFingerprint: string;
let other: MadeCertificate;
const defaultNames = [HOSTNAME, "example.test"];
const otherNames = ["other.example.test"];
/**
 * Per update: the probe's numbers, update.sh's duration, and the one outage split at the moment
 * the postfix-mailcow that ended it started: before it, update.sh's own stop, merge and start of
 * the stack (`pipelineMs`, the same script either way); after it, that container's startup to
 * its banner (`startupMs`, what the image does); and how often a postfix-mailcow container
 * started meanwhile (the engine's events: update.sh's `up`, and any switch after it).
 */
const measured: Record<string, Availability & { updateMs: number; postfixStarts: number; pipelineMs?: number; startupMs?: number }> = {};
const renewals: Record<string, Omit<Renewal, "output">> = {};
// Five rounds each: the outage is mostly the container's recreation, whose noise three rounds did not average out on a loaded machine.
const RESTART_ROUNDS = Number(process.env.MPI_UPDATE_RESTART_ROUNDS ?? 5);
/** Restarts of postfix-mailcow alone, paired: port 25 without a banner, per image. */
const restarts: Record<"ours" | "stock", number[]> = { ours: [], stock: [] };
let acmeSrv: string;

const inspect = async (ref: string) => JSON.parse((await engine!.docker(["inspect", ref])).stdout)[0];
const hookLines = (output: string) => output.split("\n").filter((line) => line.startsWith("mailcow-postfix-init-hook:"));

/** update.sh, with port 25 probed every 100 ms meanwhile; its output. */
async function measuredUpdate(name: string): Promise<string> {
  // The same moment of a quiet stack for every run: every container up and Postfix greeting.
  await project.waitForBanner();
  const probe = new BannerProbe(engine!, `${project.name}-unbound-mailcow-1`);
  await Bun.sleep(500);
  const since = Math.floor(Date.now() / 1000);
  const update = await updateSh(checkout);
  await project.waitForBanner();
  const availability = await probe.stop();
  const until = Math.ceil(Date.now() / 1000) + 1;
  const starts = await engine!.docker([
    "events",
    "--since",
    String(since),
    "--until",
    String(until),
    "--filter",
    "event=start",
    "--filter",
    "label=com.docker.compose.service=postfix-mailcow",
    "--format",
    "{{.ID}}",
  ]);
  const started = Date.parse((await postfixStartedAt()).replace(/(\.\d{3})\d*/, "$1"));
  const window = availability.windows.length === 1 ? availability.windows[0]! : undefined;
  measured[name] = {
    ...availability,
    updateMs: update.durationMs,
    postfixStarts: starts.stdout.split("\n").filter(Boolean).length,
    ...(window && { pipelineMs: Math.round(started - window.from), startupMs: Math.round(window.to - started) }),
  };
  const output = update.stdout + update.stderr;
  expect({ exitCode: update.exitCode, tail: update.exitCode === 0 ? "" : output.slice(-3000) }).toEqual({ exitCode: 0, tail: "" });
  return output;
}

/** mailcow's acme ends a renewal of the default certificate (its own scripts); measured. */
async function acmeRenewal(name: string): Promise<Renewal> {
  defaultFingerprint = renewedCertificate(acmeSrv, defaultCert.keyFile, defaultNames);
  await project.waitForBanner();
  const startedBefore = await postfixStartedAt();
  const renewal = await measuredRenewal(engine!, project);
  const { output, ...numbers } = renewal;
  renewals[name] = { ...numbers, restarted: (await postfixStartedAt()) !== startedBefore } as Omit<Renewal, "output">;
  return renewal;
}

const postfixStartedAt = async () => (await inspect(await project.containerId())).State.StartedAt as string;

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
  return {
    ref: container.Config.Image as string,
    id: container.Image as string,
    version: image.Config.Labels?.["test.mailcow.version"] as string | undefined,
  };
}

async function expectRightCertificates() {
  const served = await project.served([...defaultNames, ...otherNames]);
  for (const name of defaultNames) expect({ name, served: served.get(name) }).toEqual({ name, served: defaultFingerprint });
  for (const name of otherNames) expect({ name, served: served.get(name) }).toEqual({ name, served: other.fingerprint });
}

/** Every service runs (docker_garbage removed no image in use); nothing of ours in mailcow's git but the hook file. */
async function expectAllRunningAndOnlyTheHook() {
  const states = (await project.compose(["ps", "--all", "--format", "{{.Service}} {{.State}}"], { env: checkout.env })).stdout
    .trim()
    .split("\n");
  expect(states.length).toBe(18);
  expect(states.filter((state) => !state.endsWith(" running"))).toEqual([]);
  const changed = (await checkout.git(["diff", "--name-only", checkout.root])).stdout.split("\n");
  const untracked = (await checkout.git(["ls-files", "--others", "--exclude-standard"])).stdout.split("\n");
  // docker-compose.yml: mailcow's own upstream commits; main.cf: every start rewrites its tail (stock too).
  const ours = [...changed, ...untracked].filter((file) => file && !["docker-compose.yml", "data/conf/postfix/main.cf"].includes(file));
  expect(ours.sort()).toEqual(["post_update_hook.sh", "pre_update_hook.sh"]);
}

/**
 * An update costs no more SMTP downtime than stock's: its outage is update.sh's own stop and
 * start of the stack (the same script either way) plus the startup of the postfix-mailcow it
 * starts. Asserted here: one outage and one start of postfix-mailcow, update.sh's (no switch of
 * ours after it), that container ending the outage it started inside. The startups are
 * compared paired at the end (timed one update apart on a machine others load, the same startup
 * moves by seconds): here they are reported, with the totals. On mailcow's own image (an
 * unknown base) the startup is stock's.
 */
function expectNoMoreDowntimeThanStock(name: string) {
  const ours = measured[name]!;
  expect({ name, outages: ours.outages, postfixStarts: ours.postfixStarts }).toEqual({ name, outages: 1, postfixStarts: 1 });
  expect({ name, startedInsideTheOutage: ours.pipelineMs! > 0 && ours.startupMs! > 0 }).toEqual({ name, startedInsideTheOutage: true });
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
    [standIns] = await Promise.all([buildStandIns(engine), buildAcmeStandIns(engine)]);
    await engine.docker(["tag", standIns.postfixBase, STAND_IN]);
    const work = join(engine.root, "mailcow-update");
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    acmeSrv = join(work, "acme-srv");
    await writeAcmeSrv(acmeSrv);
    project = MailcowProject.create(engine, "mailcowdockerized", {
      hostname: HOSTNAME,
      stock: true,
      dir: join(work, "mailcow-dockerized"),
    });
    defaultCert = makeCertificate(project.sslDir, { names: defaultNames, keyType: "rsa" });
    other = makeCertificateDirectory(project.sslDir, "other.example.test", otherNames);
    defaultFingerprint = defaultCert.fingerprint;
    checkout = await makeCheckout(engine, project.dir, work);
    // mailcow's other services join for every command of the test, update.sh's and the hook's.
    Object.assign(checkout.env, {
      COMPOSE_FILE: `docker-compose.yml:${WHOLE_STACK}`,
      MPI_TEST_ACME_SRV: acmeSrv,
      MPI_TEST_DOCKER_SOCK: join(engine.root, "docker.sock"),
    });
    await project.compose(["up", "-d", "--no-build"], { env: checkout.env });
    await project.waitForBanner();
  }, 900_000);

  afterAll(async () => {
    if (project) await project.compose(["down", "-v", "--timeout", "5"], { env: checkout?.env, allowFailure: true });
    if (engine) await stopEngine(engine);
    for (const [name, { windows, ...result }] of Object.entries(measured))
      console.log(`SMTP during update.sh, ${name}: ${JSON.stringify(result)}`);
    for (const [name, { windows, ...result }] of Object.entries(renewals))
      console.log(`SMTP during acme's renewal, ${name}: ${JSON.stringify(result)}`);
    if (restarts.ours.length > 0)
      console.log(`SMTP during postfix-mailcow's recreation (ms, alternating rounds): ${JSON.stringify(restarts)}`);
  }, 180_000);

  test("stock: a renewal by mailcow's acme restarts postfix-mailcow: port 25 closes, the session held open is cut", async () => {
    const renewal = await acmeRenewal("stock");
    expect(renewal.output).toContain("Restarting ");
    expect(renewal.output).not.toContain("mailcow-postfix-init");
    expect(renewal.longestOutageMs).toBeGreaterThan(0);
    expect(renewal.session[0]).toStartWith("EHLO 250 ");
    expect(renewal.session[1]).not.toStartWith("NOOP 250");
    expect(renewals.stock).toMatchObject({ restarted: true });
    await expectRightCertificates();
  }, 900_000);

  test("stock: update.sh to a newer postfix image; mailcow's image runs it; SMTP outage measured", async () => {
    const { base } = await upstreamUpdate("3.10.13-1", "stock");
    expect(await running()).toEqual({ ref: base, id: (await inspect(base)).Id, version: "3.10.13-1" });
    expect(measured.stock!.outages).toBe(1);
    expect(measured.stock!.postfixStarts).toBe(1);
    expect(measured.stock!.startupMs).toBeGreaterThan(0);
  }, 900_000);

  test("install: the override and the hook, once; ours on the current base", async () => {
    project.useOverride();
    // From here on, the hook's builds use the engine's host-network layer (this engine has no bridge).
    checkout.env.COMPOSE_FILE = ["docker-compose.yml", "docker-compose.override.yml", WHOLE_STACK, BUILD_ON_HOST_NETWORK].join(":");
    const install = await run([HOOK, "install"], { cwd: project.dir, env: checkout.env, timeoutMs: 900_000 });
    expect(hookLines(install.stdout).at(-1)).toStartWith("mailcow-postfix-init-hook: ours on ghcr.io/mailcow/postfix:3.10.13-1 in ");
    expect((await running()).ref).toBe(`${OURS}:3.10.13-1`);
    await expectRightCertificates();
    // acme-mailcow recreated with the override's BASH_ENV; it says what it does after a renewal.
    const acme = await project.exec(["bash", "-c", ":", "/srv/acme.sh"], {}, "acme-mailcow");
    expect(acme.stderr.trim()).toBe(
      "mailcow-postfix-init: after a renewal acme reloads Postfix instead of restarting postfix-mailcow while it runs mailcow-postfix-init's watcher",
    );
  }, 900_000);

  test("update 1, a base of a known shape: ours rebuilt on it, switched, checked", async () => {
    const { base, output } = await upstreamUpdate("3.10.14-1", "ours, known base");
    expectNoMoreDowntimeThanStock("ours, known base");
    expect(hookLines(output)).toEqual([
      expect.stringMatching(
        /^mailcow-postfix-init-hook: ours built on ghcr\.io\/mailcow\/postfix:3\.10\.14-1 in \d+ s, before update\.sh stops the stack: its restart starts it; built from release /,
      ),
      "mailcow-postfix-init-hook: ours on ghcr.io/mailcow/postfix:3.10.14-1 already; nothing to do",
    ]);
    await expectOursOn(base);
  }, 900_000);

  test("update 2, a base this release does not know: mailcow's own image and startup, one message", async () => {
    const { base, output } = await upstreamUpdate("3.10.15-1", "ours, unknown base -> stock", DRIFT);
    expectNoMoreDowntimeThanStock("ours, unknown base -> stock");
    const lines = hookLines(output);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toStartWith(
      `mailcow-postfix-init-hook: not built on ${base}, because this release refused it (base fingerprint ${driftedFingerprint()}: `,
    );
    expect(lines[0]).toContain("update.sh's restart starts mailcow's own image and startup on it; build log ");
    expect(lines[1]).toStartWith(`mailcow-postfix-init-hook: mailcow's own image and startup on ${base} in `);
    expect(lines[1]).toEndWith(`Back to ours when a release knows the base: the next ./update.sh, or now: ${HOOK} run ${project.dir}`);
    expect(await running()).toEqual({ ref: `${OURS}:3.10.15-1-stock`, id: (await inspect(base)).Id, version: "3.10.15-1" });
    expect(await project.waitForBanner()).toStartWith("220 ");
    await expectRightCertificates();
    expect(await project.logs()).not.toContain("mailcow-postfix-init:");
    await expectAllRunningAndOnlyTheHook();
  }, 900_000);

  test("update 3, a known base again: back to ours with no command typed", async () => {
    const { base, output } = await upstreamUpdate("3.10.16-1", "ours, back from stock");
    expectNoMoreDowntimeThanStock("ours, back from stock");
    expect(hookLines(output)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^mailcow-postfix-init-hook: ours built on ${base.replaceAll(".", "\\.")} in \\d+ s, before update\\.sh stops the stack`,
        ),
      ),
      `mailcow-postfix-init-hook: ours on ${base} already; nothing to do`,
    ]);
    await expectOursOn(base);
  }, 900_000);

  test("ours: a renewal by mailcow's acme reloads Postfix: port 25 never closes, the session held open completes, the new certificate is served", async () => {
    const renewal = await acmeRenewal("ours");
    expect(renewal.output).toContain("Postfix runs mailcow-postfix-init's watcher: reloading, not restarting");
    expect(renewals.ours).toMatchObject({ restarted: false, longestOutageMs: 0, outages: 0 });
    expect(renewal.up).toBe(renewal.attempts);
    expect(renewal.session).toEqual([expect.stringMatching(/^EHLO 250 /), expect.stringMatching(/^NOOP 250 /)]);
    // Dovecot and nginx: what mailcow's script does to them (Dovecot restarted, nginx reloaded).
    expect(renewal.output).toContain("Reloading Nginx...");
    expect(renewal.output).toMatch(/Restarting [0-9a-f]{64}\.\.\./);
    await expectRightCertificates();
    expect(await project.logs()).toMatch(/mailcow-postfix-init: watch: applied in \d+ ms: sni\.map\.db rebuilt, 2 names changed/);
  }, 900_000);
  test("the startup update.sh's restart waits for, paired: ours greets no later than mailcow's own image on the same base", async () => {
    // What differs between an update with ours and one with stock is the image update.sh starts:
    // postfix-mailcow recreated on the current base, ours and mailcow's own image (the -stock
    // tag, as the hook sets it) alternating, the rest of the stack up, port 25 probed.
    const tag = "3.10.16-1";
    await engine!.docker(["tag", `ghcr.io/mailcow/postfix:${tag}`, `${OURS}:${tag}-stock`]);
    const conf = join(project.dir, "mailcow.conf");
    const withStock = (suffix: string) =>
      writeFileSync(conf, `${readFileSync(conf, "utf8").replace(/^MPI_POSTFIX_STOCK=.*\n/m, "")}MPI_POSTFIX_STOCK=${suffix}\n`);
    try {
      for (let round = 0; round < RESTART_ROUNDS; round++) {
        for (const image of ["stock", "ours"] as const) {
          withStock(image === "stock" ? "-stock" : "");
          await project.waitForBanner();
          const probe = new BannerProbe(engine!, `${project.name}-unbound-mailcow-1`);
          await Bun.sleep(300);
          await project.compose(["up", "-d", "--no-build", "postfix-mailcow"], { env: checkout.env });
          await project.waitForBanner();
          restarts[image].push((await probe.stop()).longestOutageMs);
        }
      }
    } finally {
      withStock("");
      await project.compose(["up", "-d", "--no-build", "postfix-mailcow"], { env: checkout.env });
      await engine!.docker(["image", "rm", `${OURS}:${tag}-stock`], { allowFailure: true });
    }
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    expect({
      ours: median(restarts.ours),
      stock: median(restarts.stock),
      oursNoLater: median(restarts.ours) <= median(restarts.stock),
    }).toMatchObject({ oursNoLater: true });
    expect((await running()).ref).toBe(`${OURS}:${tag}`);
    expect(await project.waitForBanner()).toStartWith("220 ");
  }, 900_000);
});
