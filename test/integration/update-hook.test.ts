import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DOCKER, run, startEngine, stopEngine, type Engine } from "../support/docker.ts";
import { buildStandIns, ensureBaseImage, REPO, type StandIns } from "../support/docker-images.ts";
import { MailcowProject, tagOf } from "../support/docker-compose.ts";
import { makeCertificate, makeCertificateDirectory, type MadeCertificate } from "../support/certs.ts";
import { buildBase, DRIFT, driftedFingerprint } from "../support/new-base.ts";

// mailcow-postfix-init-hook across three mailcow updates, with no command typed between them:
// a newer base of a known shape, a base whose startup logic this release does not know, a known
// one again. Each update is mailcow's sequence (upstream commit, ./update.sh: pre_update_hook.sh,
// pull, down, up, post_update_hook.sh) on the stand-in update.sh; the hook was installed once,
// next to an admin's own hook. Same private engine and stand-ins as container.test.ts.

const enabled = process.env.MPI_SKIP_CONTAINER_TESTS !== "1";
const HOSTNAME = "mail.example.test";
const HOOK = join(REPO, "docker", "mailcow-postfix-init-hook");
const OURS = "local/mailcow-postfix-init";

let engine: Engine | undefined;
let standIns: StandIns;
let mailcow: MailcowProject;
let hostEnv: Record<string, string>;
let defaultCert: MadeCertificate;
let other: MadeCertificate;
/** mailcow's own first commit, before the hook was installed. */
let mailcowRoot: string;
const defaultNames = [HOSTNAME, "example.test"];
const otherNames = ["other.example.test"];

const inspect = async (ref: string) => JSON.parse((await engine!.docker(["inspect", ref])).stdout)[0];
const git = (args: string[]) =>
  run(["git", "-C", mailcow.dir, ...args], {
    env: { GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@t", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@t" },
  });
const hookLines = (output: string) => output.split("\n").filter((line) => line.startsWith("mailcow-postfix-init-hook:"));

/** What runs as postfix-mailcow: its image reference, image ID and the stand-in's version label. */
async function running() {
  const container = await inspect(await mailcow.containerId());
  const image = await inspect(container.Image);
  return {
    ref: container.Config.Image as string,
    id: container.Image as string,
    version: image.Config.Labels?.["test.mailcow.version"] as string | undefined,
  };
}

/** An upstream mailcow commit that moves docker-compose.yml to a new postfix base, then ./update.sh. */
async function mailcowUpdate(tag: string, change = "") {
  const base = await buildBase(engine!, standIns.postfixBase, tag, change);
  const compose = join(mailcow.dir, "docker-compose.yml");
  writeFileSync(compose, readFileSync(compose, "utf8").replace(/ghcr\.io\/mailcow\/postfix:\S+/, base));
  await git(["commit", "-qam", `mailcow: postfix ${tag}`]);
  const update = await run(["./update.sh"], { cwd: mailcow.dir, env: hostEnv, timeoutMs: 900_000 });
  return { base, output: update.stdout + update.stderr };
}

async function expectRightCertificates() {
  const served = await mailcow.served([...defaultNames, ...otherNames]);
  for (const name of defaultNames) expect({ name, served: served.get(name) }).toEqual({ name, served: defaultCert.fingerprint });
  for (const name of otherNames) expect({ name, served: served.get(name) }).toEqual({ name, served: other.fingerprint });
}

/**
 * Against mailcow's first commit, the checkout differs only by the upstream edits of
 * docker-compose.yml and our hook file (main.cf is rewritten by every start, stock too);
 * nothing untracked. The test's update commits include the hook, as update.sh's do.
 */
async function expectOnlyTheHookInGit() {
  const changed = (await git(["diff", "--name-only", mailcowRoot])).stdout.split("\n");
  const untracked = (await git(["ls-files", "--others", "--exclude-standard"])).stdout.split("\n");
  const ours = [...changed, ...untracked].filter((file) => file && file !== "data/conf/postfix/main.cf");
  expect(ours.sort()).toEqual(["docker-compose.yml", "post_update_hook.sh", "pre_update_hook.sh"]);
}

describe.skipIf(!enabled)("mailcow-postfix-init-hook after mailcow's update.sh", () => {
  beforeAll(async () => {
    engine = await startEngine();
    await ensureBaseImage(engine);
    standIns = await buildStandIns(engine);
    // The hook finds Debian's client (Compose v2 and BuildKit) first in PATH, as on a mail host.
    const bin = join(engine.root, "hook-bin");
    mkdirSync(bin, { recursive: true });
    rmSync(join(bin, "docker"), { force: true }); // an engine root kept between runs (MPI_CONTAINER_ROOT)
    symlinkSync(DOCKER, join(bin, "docker"));
    // The hook keeps a refused build's log in TMPDIR: inside the engine's root, removed with it.
    const tmp = join(engine.root, "hook-tmp");
    mkdirSync(tmp, { recursive: true });
    hostEnv = { ...engine.env, PATH: `${bin}:${process.env.PATH}`, TMPDIR: tmp };
    mailcow = MailcowProject.create(engine, "mailcowdockerized", {
      hostname: HOSTNAME,
      extraComposeFiles: [join(REPO, "docker", "test", "build-host-network.yml")],
    });
    defaultCert = makeCertificate(mailcow.sslDir, { names: defaultNames, keyType: "rsa" });
    other = makeCertificateDirectory(mailcow.sslDir, "other.example.test", otherNames);
    copyFileSync(join(mailcow.dir, "gitignore"), join(mailcow.dir, ".gitignore"));
    // An admin's own hook, ending in `exit 0`: it stays and still runs.
    writeFileSync(join(mailcow.dir, "post_update_hook.sh"), "#!/bin/bash\necho admin-hook-ran\nexit 0\n", { mode: 0o755 });
    await git(["init", "-q"]);
    await git(["add", "-A"]);
    await git(["commit", "-qm", "mailcow"]);
    mailcowRoot = (await git(["rev-parse", "HEAD"])).stdout.trim();
  }, 900_000);

  afterAll(async () => {
    if (mailcow) await mailcow.down();
    if (engine) await stopEngine(engine);
  }, 180_000);

  test("install: our block added once, after the shebang; ours built and running; one summary line", async () => {
    const install = await run([HOOK, "install"], { cwd: mailcow.dir, env: hostEnv, timeoutMs: 900_000 });
    const again = await run([HOOK, "install"], { cwd: mailcow.dir, env: hostEnv, timeoutMs: 900_000 });
    const hook = readFileSync(join(mailcow.dir, "post_update_hook.sh"), "utf8").split("\n");
    expect(hook[0]).toBe("#!/bin/bash");
    expect(hook[1]).toBe("# >>> mailcow-postfix-init >>>");
    expect(hook.filter((line) => line.includes(HOOK)).length).toBe(1);
    expect(hook.slice(4)).toEqual(["echo admin-hook-ran", "exit 0", ""]);
    expect(hookLines(install.stdout).at(-1)).toMatch(
      new RegExp(
        `^mailcow-postfix-init-hook: ours on ${standIns.postfixBase.replaceAll(".", "\\.")} in \\d+ s \\(banner \\d+ s after the switch\\); serves example\\.test mail\\.example\\.test other\\.example\\.test; built from release [0-9a-f]+ \\(not pulled: MPI_HOOK_GIT_PULL is not y\\), build image \\S+ \\(sha256:[0-9a-f]{64}, no registry digest: not pinned\\), npm packages by bun\\.lock [0-9a-f]{12}$`,
      ),
    );
    expect(hookLines(again.stdout).at(-1)).toBe(`mailcow-postfix-init-hook: ours on ${standIns.postfixBase} already; nothing to do`);
    expect((await running()).ref).toBe(`${OURS}:${tagOf(standIns.postfixBase)}`);
    await mailcow.waitForBanner();
    await expectRightCertificates();
    expect(readFileSync(join(mailcow.dir, "mailcow.conf"), "utf8")).toContain(`\nMPI_POSTFIX_TAG=${tagOf(standIns.postfixBase)}\n`);
  }, 900_000);

  test("update 1, a newer base of a known shape: ours rebuilt on it, switched, checked", async () => {
    const { base, output } = await mailcowUpdate("3.10.13-1");
    expect(output).toContain("admin-hook-ran");
    // Built before the stack stopped, started by update.sh's own `up`; the post hook only checks.
    expect(hookLines(output)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^mailcow-postfix-init-hook: ours built on ${base.replaceAll(".", "\\.")} in \\d+ s, before update\\.sh stops the stack: its restart starts it; built from release `,
        ),
      ),
      `mailcow-postfix-init-hook: ours on ${base} already; nothing to do`,
    ]);
    expect(await running()).toEqual({ ref: `${OURS}:3.10.13-1`, id: expect.any(String), version: "3.10.13-1" });
    expect((await inspect(`${OURS}:3.10.13-1`)).Config.Labels["org.opencontainers.image.base.name"]).toBe(base);
    expect(await mailcow.waitForBanner()).toStartWith("220 ");
    await expectRightCertificates();
    expect(await mailcow.logs()).toContain(
      `mailcow-postfix-init: built from ${base}, the postfix image mailcow's docker-compose.yml names`,
    );
    await expectOnlyTheHookInGit();
  }, 900_000);

  test("update 2, a base with startup logic this release does not know: mailcow's own image and startup, one message", async () => {
    const fingerprint = driftedFingerprint();
    const { base, output } = await mailcowUpdate("3.10.14-1", DRIFT);
    const lines = hookLines(output);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      new RegExp(
        `^mailcow-postfix-init-hook: not built on ${base.replaceAll(".", "\\.")}, because this release refused it \\(base fingerprint ${fingerprint}: .*\\): update\\.sh's restart starts mailcow's own image and startup on it; build log \\S+$`,
      ),
    );
    expect(lines[1]).toMatch(
      new RegExp(
        `^mailcow-postfix-init-hook: mailcow's own image and startup on ${base.replaceAll(".", "\\.")} in \\d+ s, because this release refused it \\(base fingerprint ${fingerprint}: .*\\); build log \\S+\\. Back to ours when a release knows the base: the next \\./update\\.sh, or now: ${HOOK} run ${mailcow.dir}$`,
      ),
    );
    const now = await running();
    expect(now).toEqual({ ref: `${OURS}:3.10.14-1-stock`, id: (await inspect(base)).Id, version: "3.10.14-1" });
    expect(await mailcow.waitForBanner()).toStartWith("220 ");
    await expectRightCertificates();
    expect(await mailcow.logs()).not.toContain("mailcow-postfix-init:");
    await expectOnlyTheHookInGit();
  }, 900_000);

  test("update 3, a known base again: back to ours, the stock tag pruned", async () => {
    const { base, output } = await mailcowUpdate("3.10.15-1");
    expect(hookLines(output).at(-1)).toBe(`mailcow-postfix-init-hook: ours on ${base} already; nothing to do`);
    expect(await running()).toEqual({ ref: `${OURS}:3.10.15-1`, id: expect.any(String), version: "3.10.15-1" });
    expect(await mailcow.waitForBanner()).toStartWith("220 ");
    await expectRightCertificates();
    expect(await mailcow.logs()).toContain(
      `mailcow-postfix-init: built from ${base}, the postfix image mailcow's docker-compose.yml names`,
    );
    const tags = (await engine!.docker(["images", "--format", "{{.Repository}}:{{.Tag}}", OURS])).stdout.trim().split("\n");
    expect(tags).toEqual([`${OURS}:3.10.15-1`]);
    await expectOnlyTheHookInGit();
  }, 900_000);

  test("MPI_KEEP_OURS_ON_UNKNOWN_BASE=y (opt-in): on an unknown base ours stays, on the older base, and says so", async () => {
    writeFileSync(
      join(mailcow.dir, "mailcow.conf"),
      `${readFileSync(join(mailcow.dir, "mailcow.conf"), "utf8")}MPI_KEEP_OURS_ON_UNKNOWN_BASE=y\n`,
    );
    const { base, output } = await mailcowUpdate("3.10.16-1", DRIFT);
    expect(hookLines(output)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^mailcow-postfix-init-hook: not built on ${base.replaceAll(".", "\\.")}: this release refused it \\(base fingerprint ${driftedFingerprint()}: .*\\); MPI_KEEP_OURS_ON_UNKNOWN_BASE=y: update\\.sh's restart keeps ours on the older base; build log \\S+$`,
        ),
      ),
      expect.stringMatching(
        new RegExp(
          `^mailcow-postfix-init-hook: not built on ${base.replaceAll(".", "\\.")}: this release refused it \\(base fingerprint ${driftedFingerprint()}: .*\\); MPI_KEEP_OURS_ON_UNKNOWN_BASE=y: postfix-mailcow stays on ours, built from 3\\.10\\.15-1, the older base; build log \\S+$`,
        ),
      ),
    ]);
    expect(await running()).toEqual({ ref: `${OURS}:3.10.15-1`, id: expect.any(String), version: "3.10.15-1" });
    expect(await mailcow.waitForBanner()).toStartWith("220 ");
    await expectRightCertificates();
    expect(await mailcow.logs()).toContain(
      `this image was built from ghcr.io/mailcow/postfix:3.10.15-1, but mailcow's docker-compose.yml now names ${base}`,
    );
  }, 900_000);

  test("remove: only our blocks go; the admin's hook is as it was, our own pre hook file is gone", async () => {
    await run([HOOK, "remove"], { cwd: mailcow.dir, env: hostEnv });
    expect(readFileSync(join(mailcow.dir, "post_update_hook.sh"), "utf8")).toBe("#!/bin/bash\necho admin-hook-ran\nexit 0\n");
    expect(existsSync(join(mailcow.dir, "pre_update_hook.sh"))).toBe(false);
  }, 60_000);
});
