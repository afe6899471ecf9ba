import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startEngine, stopEngine, type Engine } from "../support/docker.ts";
import { buildStandIns, ensureBaseImage, REPO, type ProjectBuild, type ServiceBuild, type StandIns } from "../support/docker-images.ts";
import { MailcowProject, POSTFIX, tagOf } from "../support/docker-compose.ts";
import { run } from "../support/docker.ts";
import { adaptStep, readmeStep, readmeTable, type StepPlaces } from "../support/readme-steps.ts";
import { makeCertificate, makeCertificateDirectory, type MadeCertificate } from "../support/certs.ts";
import { FIXTURE_SCRIPT } from "../support/namespace-root.ts";
import { verifyBase } from "../../src/templates/verify.ts";

// The image built from Dockerfile.postfix, run the way an admin runs it (mailcow-like compose
// file + docker/docker-compose.override.yml) on a private Docker engine. Every assertion is on
// what a client receives or what the admin sees on the host. Needs root, Debian's docker.io,
// docker-compose and debootstrap, and the Debian mirror (test/support/ensure-deps.sh installs
// them). They run by default; MPI_SKIP_CONTAINER_TESTS=1 skips them while developing other
// parts (bun reports them as skipped, never as passed).

const enabled = process.env.MPI_SKIP_CONTAINER_TESTS !== "1";
const SETUP_MS = 900_000;
const HOSTNAME = "mail.example.test";

let engine: Engine | undefined;
let standIns: StandIns;
let service: ServiceBuild;
let image: ProjectBuild;
const projects: MailcowProject[] = [];

function project(name: string, env: Record<string, string> = {}, stock = false): MailcowProject {
  const made = MailcowProject.create(engine!, name, { hostname: HOSTNAME, env, stock });
  projects.push(made);
  return made;
}

/** Contents hash of every file the startup generates, keyed by path relative to the conf dir. */
function generatedFiles(confDir: string): Record<string, string> {
  const files = ["main.cf", "extra.cf", "sni.map", ...readdirSync(join(confDir, "sql")).map((f) => `sql/${f}`)];
  return Object.fromEntries(
    files.map((f) => [
      f,
      createHash("sha256")
        .update(readFileSync(join(confDir, f)))
        .digest("hex"),
    ]),
  );
}

describe.skipIf(!enabled)("container image from Dockerfile.postfix", () => {
  beforeAll(async () => {
    engine = await startEngine();
    await ensureBaseImage(engine);
    standIns = await buildStandIns(engine);
    const builder = project("build");
    service = await builder.postfixBuild();
    image = await builder.build();
  }, SETUP_MS);

  afterAll(async () => {
    for (const made of projects) await made.down();
    if (engine) await stopEngine(engine);
  }, 180_000);

  test("entrypoint, supervisord program and labels; nothing else of the base changed", async () => {
    const inspect = JSON.parse((await engine!.docker(["image", "inspect", image.image])).stdout)[0].Config;
    const base = JSON.parse((await engine!.docker(["image", "inspect", standIns.postfixBase])).stdout)[0].Config;
    const version = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")).version;
    expect(image.args.MAILCOW_POSTFIX_IMAGE).toBe(standIns.postfixBase);
    expect(inspect.Labels["org.opencontainers.image.version"]).toBe(version);
    expect(inspect.Labels["org.opencontainers.image.base.name"]).toBe(standIns.postfixBase);
    expect(inspect.Entrypoint).toEqual(["/usr/local/bin/mailcow-postfix-init", "entrypoint"]);
    expect(inspect.Cmd).toEqual(base.Cmd);
    expect(inspect.Env).toEqual(base.Env);

    const cat = (tag: string) =>
      engine!.docker(["run", "--rm", "--network", "none", "--entrypoint", "cat", tag, "/etc/supervisor/supervisord.conf"]);
    const ours = (await cat(image.image)).stdout.split("\n");
    const theirs = (await cat(standIns.postfixBase)).stdout.split("\n");
    // The base's lines, one changed, then the watcher's program appended.
    const changed = ours.slice(0, theirs.length).filter((line, i) => line !== theirs[i]);
    expect(changed).toEqual(["command=/usr/local/bin/mailcow-postfix-init start"]);
    const appended = ours.slice(theirs.length);
    expect(appended[0]).toBe("[program:mailcow-postfix-init-watch]");
    expect(appended).toContain("command=/usr/local/bin/mailcow-postfix-init watch");
    expect(appended.filter((line) => line.startsWith("["))).toHaveLength(1);
  }, 60_000);

  /** Dockerfile.postfix on the stand-in base with one RUN line changed; the build's output, colours removed. */
  async function buildOnChangedBase(change: string, args: string[] = [], tag = "mpi-test/should-not-exist:latest") {
    const changed = "mpi-test/postfix-changed:latest";
    await engine!.docker(["build", "--network", "host", "--tag", changed, "-"], { stdin: `FROM ${standIns.postfixBase}\n${change}\n` });
    const build = await engine!.docker(
      [
        "build",
        "--network",
        "host",
        "--file",
        join(service.context, service.dockerfile),
        "--build-arg",
        `MAILCOW_POSTFIX_IMAGE=${changed}`,
        ...args,
        "--tag",
        tag,
        service.context,
      ],
      { allowFailure: true, timeoutMs: 300_000 },
    );
    // The message itself: without colours (legacy builder) and BuildKit's "#15 0.380 " step prefix.
    // biome-ignore lint/suspicious/noControlCharactersInRegex: ESC starts the colour sequences removed
    const colours = /\x1b\[[0-9;]*m/g;
    return { exitCode: build.exitCode, output: (build.stdout + build.stderr).replace(colours, "").replace(/^#\d+ \d+\.\d+ /gm, "") };
  }

  // A one-line logic change of the stand-in's postfix.sh (its DNS wait), as a mailcow update might make.
  const DRIFT = "RUN sed -i 's/^  sleep 1$/  sleep 2/' /opt/postfix.sh";
  const driftLine = readFileSync(FIXTURE_SCRIPT, "utf8").split("\n").indexOf("  sleep 1") + 1;

  test.each([
    [
      "an /opt/postfix.sh of unknown shape",
      `RUN printf '#!/bin/bash\\npostfix start\\n' > /opt/postfix.sh`,
      /^mailcow-postfix-init: error: .*\/opt\/postfix\.sh/m,
    ],
    [
      "no postfix program command in supervisord.conf",
      String.raw`RUN sed -i '/^\[program:postfix\]/,/^\[/ { /^command=/d }' /etc/supervisor/supervisord.conf`,
      /^mailcow-postfix-init: error: the base image's startup is not a version .*\/etc\/supervisor\/supervisord\.conf: the section \(line \d+\) lacks a setting/m,
    ],
    [
      "a postfix.sh whose logic changed by one line (heredocs unchanged)",
      DRIFT,
      new RegExp(
        String.raw`^mailcow-postfix-init: error: the base image's startup is not a version this release was checked against \(base fingerprint [0-9a-f]{16}\): /opt/postfix\.sh: line ${driftLine} \(${"`"}sleep 2${"`"}\) is new or changed.* set MPI_ACCEPT_UNVERIFIED_BASE=[0-9a-f]{16} `,
        "m",
      ),
    ],
  ])(
    "the build fails on a base image with %s",
    async (_what, change, named) => {
      const build = await buildOnChangedBase(change);
      expect(build.exitCode).not.toBe(0);
      expect(build.output).toMatch(named);
    },
    300_000,
  );

  test("MPI_ACCEPT_UNVERIFIED_BASE=<that base's fingerprint>: the build passes, and start warns that the logic was not verified", async () => {
    const standIn = join(REPO, "docker", "test", "images", "postfix-base");
    const drifted = readFileSync(FIXTURE_SCRIPT, "utf8").replace(/^ {2}sleep 1$/m, "  sleep 2");
    const { fingerprint } = verifyBase({
      "postfix.sh": { path: "/opt/postfix.sh", text: drifted },
      "docker-entrypoint.sh": { path: "/docker-entrypoint.sh", text: readFileSync(join(standIn, "docker-entrypoint.sh"), "utf8") },
      "supervisord-program-postfix": {
        path: "/etc/supervisor/supervisord.conf",
        text: readFileSync(join(standIn, "supervisord.conf"), "utf8"),
      },
    });
    const accepted = "mpi-test/postfix-unverified:latest";
    const build = await buildOnChangedBase(DRIFT, ["--build-arg", `MPI_ACCEPT_UNVERIFIED_BASE=${fingerprint}`], accepted);
    expect({ exitCode: build.exitCode, tail: build.exitCode === 0 ? "" : build.output.slice(-2000) }).toEqual({ exitCode: 0, tail: "" });
    // `start` logs it before waiting for the database; with none there it gives up after 1 s.
    const env = { DBNAME: "mailcow", DBUSER: "mailcow", DBPASS: "Test-Pass-4-db", MAILCOW_HOSTNAME: HOSTNAME, MPI_WAIT_TIMEOUT: "1" };
    const start = await engine!.docker(
      [
        "run",
        "--rm",
        "--network",
        "none",
        ...Object.entries(env).flatMap(([k, v]) => ["-e", `${k}=${v}`]),
        "--entrypoint",
        "/usr/local/bin/mailcow-postfix-init",
        accepted,
        "start",
      ],
      { allowFailure: true, timeoutMs: 60_000 },
    );
    const warnings = (start.stdout + start.stderr)
      .split("\n")
      .filter((line) => line.includes("the startup logic was not verified for this base image"));
    expect(warnings).toEqual([
      expect.stringContaining(
        `mailcow-postfix-init: warning: the startup logic was not verified for this base image (base fingerprint ${fingerprint}, accepted at build with MPI_ACCEPT_UNVERIFIED_BASE; versions this release does not know: /opt/postfix.sh)`,
      ),
    ]);
  }, 300_000);

  describe("mailcow-dockerized issue 5816: single domain, SKIP_LETS_ENCRYPT=y", () => {
    let single: MailcowProject;
    let defaultCert: MadeCertificate;
    const names = [HOSTNAME, "example.test", "autodiscover.example.test", "autoconfig.example.test"];

    beforeAll(async () => {
      single = project("single", { SKIP_LETS_ENCRYPT: "y" });
      defaultCert = makeCertificate(single.sslDir, { names, keyType: "rsa" });
      makeCertificate(join(single.sslDir, "acme"), { names: ["acme-account"], certName: "unused.pem", keyName: "account.pem" });
      await single.up();
      await single.waitForBanner();
    }, 180_000);

    test("the log says which mailcow postfix image this one was built from, and that it is current", async () => {
      const lines = (await single.logs())
        .split("\n")
        .filter((line) => line.includes("the postfix image mailcow's docker-compose.yml names"));
      expect(lines).toEqual([
        `mailcow-postfix-init: built from ${standIns.postfixBase}, the postfix image mailcow's docker-compose.yml names`,
      ]);
      // Built on a known base: no word about unverified startup logic.
      expect(await single.logs()).not.toContain("not verified");
    }, 30_000);

    test("every name of the default certificate gets it; no 'not matched' in the log", async () => {
      const served = await single.served(names);
      for (const name of names) expect({ name, served: served.get(name) }).toEqual({ name, served: defaultCert.fingerprint });
      await Bun.sleep(1000); // let syslog-ng pass smtpd's lines on
      const log = (await single.logs()).split("\n");
      // smtpd's TLS lines do reach the log, so the absence below means something.
      expect(log.filter((line) => /smtpd\[\d+\]: .*TLS connection established/.test(line)).length).toBeGreaterThanOrEqual(names.length);
      expect(log.filter((line) => line.includes("not matched"))).toEqual([]);
      // The override passes SKIP_LETS_ENCRYPT through only so that the admin sees this.
      expect(log).toContain("mailcow-postfix-init: SKIP_LETS_ENCRYPT is set: the default certificate is mapped all the same");
    }, 120_000);

    test("`check` inside the container reports no error", async () => {
      const check = await single.exec(["mailcow-postfix-init", "check", "--json"], { allowFailure: true });
      expect({ exitCode: check.exitCode, stderr: check.stderr }).toEqual({ exitCode: 0, stderr: expect.any(String) });
      expect(() => JSON.parse(check.stdout)).not.toThrow();
    }, 60_000);

    test("host side of the volume: sni.map and sni.map.db are not readable by others", () => {
      for (const file of ["sni.map", "sni.map.db"]) {
        const mode = statSync(join(single.confDir, file)).mode & 0o777;
        expect({ file, others: mode & 0o007 }).toEqual({ file, others: 0 });
      }
    });

    test("`docker restart` leaves main.cf, extra.cf, sni.map and the SQL files byte-identical", async () => {
      const before = generatedFiles(single.confDir);
      expect(Object.keys(before).filter((f) => f.startsWith("sql/")).length).toBeGreaterThan(0);
      await engine!.docker(["restart", "--time", "10", await single.containerId()], { timeoutMs: 60_000 });
      await single.waitForBanner();
      expect(generatedFiles(single.confDir)).toEqual(before);
    }, 120_000);

    test("`docker stop` exits within 10 s, cleanly, with no Postfix process left", async () => {
      const id = await single.containerId();
      const started = performance.now();
      await engine!.docker(["stop", "--time", "10", id], { timeoutMs: 30_000 });
      const elapsed = performance.now() - started;
      const state = JSON.parse((await engine!.docker(["inspect", id])).stdout)[0].State;
      expect({ running: state.Running, exitCode: state.ExitCode, oomKilled: state.OOMKilled }).toEqual({
        running: false,
        exitCode: 0,
        oomKilled: false,
      });
      expect(elapsed).toBeLessThan(10_000);
      expect(processesInContainer(id)).toEqual([]);
    }, 60_000);
  });

  describe("switch from stock on the same volumes (lived-in conf dir: extra.cf overrides main.cf)", () => {
    // The admin's path: the base image's own startup has run on this conf dir (appending extra.cf,
    // which overrides main.cf settings, under the Overrides marker) and on this spool volume;
    // then the override is added and `up -d` recreates postfix-mailcow from our image.
    let switched: MailcowProject;
    let defaultCert: MadeCertificate;
    let other: MadeCertificate;
    const defaultNames = [HOSTNAME, "example.test"];
    const otherNames = ["other.example.test", "www.other.example.test"];
    const expectRightCertificates = async () => {
      const served = await switched.served([...defaultNames, ...otherNames]);
      for (const name of defaultNames) expect({ name, served: served.get(name) }).toEqual({ name, served: defaultCert.fingerprint });
      for (const name of otherNames) expect({ name, served: served.get(name) }).toEqual({ name, served: other.fingerprint });
    };

    beforeAll(async () => {
      switched = project("switch", {}, true);
      defaultCert = makeCertificate(switched.sslDir, { names: defaultNames, keyType: "rsa" });
      other = makeCertificateDirectory(switched.sslDir, "other.example.test", otherNames);
      await switched.up();
      await switched.waitForBanner();
      const mainCf = readFileSync(join(switched.confDir, "main.cf"), "utf8");
      // The stock start left main.cf as on every lived-in install: extra.cf appended after the marker.
      expect(mainCf).toContain("# User Overrides\n");
      expect(mainCf).toContain("\nmilter_default_action = accept\n");
      await switched.compose(["stop", "--timeout", "10", POSTFIX]);
      switched.useOverride();
      await switched.up();
      await switched.waitForBanner();
    }, 240_000);

    test("first start of ours: right certificate for every name, no error line", async () => {
      await expectRightCertificates();
      expect(errorLines(await switched.logs())).toEqual([]);
      const image = JSON.parse((await engine!.docker(["inspect", await switched.containerId()])).stdout)[0].Config.Image;
      expect(image).toBe(service.image);
    }, 120_000);

    test("`reload` and `sni-map` on that conf dir succeed", async () => {
      for (const command of [["sni-map"], ["reload"]]) {
        const result = await switched.exec(["mailcow-postfix-init", ...command], { allowFailure: true });
        expect({ command, exitCode: result.exitCode, errors: errorLines(result.stderr) }).toEqual({ command, exitCode: 0, errors: [] });
      }
      await expectRightCertificates();
    }, 120_000);

    test("restart: banner, right certificates, still no error line, main.cf did not grow", async () => {
      const before = readFileSync(join(switched.confDir, "main.cf"), "utf8");
      await engine!.docker(["restart", "--time", "10", await switched.containerId()], { timeoutMs: 60_000 });
      await switched.waitForBanner();
      await expectRightCertificates();
      expect(errorLines(await switched.logs())).toEqual([]);
      expect(readFileSync(join(switched.confDir, "main.cf"), "utf8")).toBe(before);
    }, 120_000);
  });

  describe("multi-domain, a broken directory, renewal", () => {
    let multi: MailcowProject;
    let defaultCert: MadeCertificate;
    const dirs: Record<string, string[]> = {
      "example.org": ["mail.example.org", "example.org", "autodiscover.example.org"],
      "example.net": ["mail.example.net", "example.net"],
    };
    const fingerprints: Record<string, string> = {};

    beforeAll(async () => {
      multi = project("multi");
      // As after a mailcow update: docker-compose.yml names a newer postfix image than ours was built from.
      const compose = join(multi.dir, "docker-compose.yml");
      writeFileSync(
        compose,
        readFileSync(compose, "utf8").replace("ghcr.io/mailcow/postfix:3.10.12-1", "ghcr.io/mailcow/postfix:3.10.99-1"),
      );
      defaultCert = makeCertificate(multi.sslDir, { names: [HOSTNAME, "example.test"], keyType: "rsa" });
      for (const [dir, domains] of Object.entries(dirs))
        fingerprints[dir] = makeCertificateDirectory(multi.sslDir, dir, domains).fingerprint;
      // A directory whose key belongs to another certificate.
      const broken = makeCertificateDirectory(multi.sslDir, "broken-pair", ["mail.broken.test"]);
      const stray = mkdtempSync(join(engine!.root, "stray-"));
      copyFileSync(makeCertificate(stray, { names: ["stray.test"] }).keyFile, broken.keyFile);
      rmSync(stray, { recursive: true });
      await multi.up();
      await multi.waitForBanner();
    }, 180_000);

    test("each name gets its directory's certificate; unknown and broken names the default", async () => {
      const expected = new Map<string, string>();
      for (const [dir, domains] of Object.entries(dirs)) for (const name of domains) expected.set(name, fingerprints[dir]!);
      for (const name of [HOSTNAME, "example.test", "unknown.example.invalid", "mail.broken.test"])
        expected.set(name, defaultCert.fingerprint);
      const served = await multi.served([...expected.keys()]);
      for (const [name, fingerprint] of expected) expect({ name, served: served.get(name) }).toEqual({ name, served: fingerprint });
    }, 120_000);

    test("a mailcow update to a newer postfix image is not silent: the start warns", async () => {
      const warnings = (await multi.logs())
        .split("\n")
        .filter((line) => line.includes("but mailcow's docker-compose.yml now names ghcr.io/mailcow/postfix:3.10.99-1"));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain(`warning: this image was built from ${standIns.postfixBase}`);
    }, 30_000);

    test("the container started despite the broken directory and its log names it once", async () => {
      const lines = (await multi.logs()).split("\n").filter((line) => line.includes("broken-pair"));
      expect(lines.length).toBe(1);
    }, 30_000);

    test("renewal: new certificate served after `reload`, without a restart", async () => {
      const id = await multi.containerId();
      const startedAt = JSON.parse((await engine!.docker(["inspect", id])).stdout)[0].State.StartedAt;
      const renewed = makeCertificateDirectory(multi.sslDir, "example.org", dirs["example.org"]!);
      expect(renewed.fingerprint).not.toBe(fingerprints["example.org"]);
      await Bun.sleep(1100); // a map rebuilt within the same second is not noticed by smtpd (FACTS)
      const reload = await multi.exec(["mailcow-postfix-init", "reload"], { allowFailure: true });
      expect({ exitCode: reload.exitCode, stderr: reload.stderr }).toEqual({ exitCode: 0, stderr: expect.any(String) });
      const served = await multi.served(dirs["example.org"]!);
      for (const name of dirs["example.org"]!) expect({ name, served: served.get(name) }).toEqual({ name, served: renewed.fingerprint });
      expect(JSON.parse((await engine!.docker(["inspect", id])).stdout)[0].State.StartedAt).toBe(startedAt);
    }, 120_000);

    test("certificates apply themselves: a renewal written on the host side is served within 3 s, no command, no restart, and a session open across it goes on", async () => {
      const id = await multi.containerId();
      const startedAt = JSON.parse((await engine!.docker(["inspect", id])).stdout)[0].State.StartedAt;
      const session = multi.exec(["bash", "-c", HELD_SESSION, "held-session", "mail.example.net"], {
        timeoutMs: 120_000,
        allowFailure: true,
      });
      for (let waited = 0; (await multi.exec(["test", "-e", "/tmp/session-open"], { allowFailure: true })).exitCode !== 0; waited += 200) {
        if (waited > 30_000)
          throw new Error(
            `the held session did not open: ${JSON.stringify(await Promise.race([session, Bun.sleep(10).then(() => "still running")]))}`,
          );
        await Bun.sleep(200);
      }
      const mark = (await multi.logs()).split("\n").length;
      // The external writer: openssl writing key.pem and cert.pem straight into the host's data/assets/ssl.
      const renewed = makeCertificateDirectory(multi.sslDir, "example.net", dirs["example.net"]!);
      const wrote = Date.now();
      let took = -1;
      while (Date.now() - wrote < 10_000) {
        if ((await multi.served(["mail.example.net"])).get("mail.example.net") === renewed.fingerprint) {
          took = Date.now() - wrote;
          break;
        }
      }
      console.log(`container: renewal on the host served after ${took} ms`);
      expect(took).toBeGreaterThanOrEqual(0);
      expect(took).toBeLessThan(3_000);
      await multi.exec(["touch", "/tmp/session-go"]);
      const held = await session;
      expect(held.stdout).toContain("EHLO 250 ");
      expect(held.stdout).toContain("NOOP 250 ");
      const applied = (await multi.logs())
        .split("\n")
        .slice(mark)
        .filter((line) => line.includes("watch: applied in"));
      expect(applied.some((line) => line.includes("mail.example.net") && line.endsWith("postfix reloaded"))).toBe(true);
      expect(JSON.parse((await engine!.docker(["inspect", id])).stdout)[0].State.StartedAt).toBe(startedAt);
    }, 180_000);
  });

  describe("the README's admin steps and its life-of-an-install table, verbatim (Compose v2, BuildKit, a mailcow git checkout)", () => {
    // Runs after the describes above (same engine and images). Each README block marked
    // `<!-- suite: NAME -->` and each row of the `<!-- suite-table: life -->` table runs in bash
    // with only mailcow's location and the repository URL replaced (test/support/readme-steps.ts).
    // The project is cloned from a bare copy of this repository, so that a release can be pushed.
    let admin: MailcowProject;
    let places: StepPlaces;
    let defaultCert: MadeCertificate;
    let other: MadeCertificate;
    const NEWER_BASE = "ghcr.io/mailcow/postfix:3.10.13-1";
    const UNKNOWN_BASE = "ghcr.io/mailcow/postfix:3.10.14-1";
    const life = readmeTable("life");

    /** One README block or table command, as the admin pastes it; the hook's builds see the engine's host-network layer. */
    const shell = async (script: string, options: { allowFailure?: boolean } = {}) => {
      const builds = /hook (install|run)|update\.sh/.test(script);
      const composeFile = builds
        ? {
            COMPOSE_FILE: [
              "docker-compose.yml",
              "docker-compose.override.yml",
              join(REPO, "docker", "test", "build-host-network.yml"),
            ].join(":"),
          }
        : {};
      return run(["bash", "-euo", "pipefail", "-c", adaptStep(script, places)], {
        // TMPDIR: the hook keeps a refused build's log there; inside the engine's root, removed with it.
        cwd: places.mailcowDir,
        env: { ...engine!.env, ...composeFile, TMPDIR: engine!.root },
        timeoutMs: 900_000,
        allowFailure: options.allowFailure,
      });
    };
    const step = (name: string, options: { allowFailure?: boolean } = {}) => shell(readmeStep(name), options);
    /** A row of the life table: its command in the mailcow directory; the last line printed. */
    const row = async (name: string) => {
      const found = life.find((entry) => entry.step === name);
      if (!found) throw new Error(`README life table has no row "${name}"`);
      const result = await shell(`cd /opt/mailcow-dockerized\n${found.command}`);
      return result.stdout.trim().split("\n").at(-1) ?? "";
    };
    const git = (args: string[], dir = places.mailcowDir) =>
      run(["git", "-C", dir, ...args], {
        env: { GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@t", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@t" },
      });
    /** What of ours acme-mailcow's container holds: environment entries and mounts. */
    const acmeKeysOfOurs = async () => {
      const acme = JSON.parse((await engine!.docker(["inspect", await admin.containerId("acme-mailcow")])).stdout)[0];
      return {
        env: (acme.Config.Env as string[]).filter((entry) => /^(BASH_ENV|MPI_)/.test(entry)).sort(),
        mounts: (acme.Mounts as { Destination: string }[])
          .map((mount) => mount.Destination)
          .filter((path) => path.includes("mailcow-postfix-init")),
      };
    };
    const runningImage = async () =>
      JSON.parse((await engine!.docker(["inspect", await admin.containerId()])).stdout)[0].Config.Image as string;
    const expectRightCertificates = async () => {
      const served = await admin.served([HOSTNAME, "example.test", "other.example.test"]);
      expect(Object.fromEntries(served)).toEqual({
        [HOSTNAME]: defaultCert.fingerprint,
        "example.test": defaultCert.fingerprint,
        "other.example.test": other.fingerprint,
      });
    };
    /** Nothing of ours in mailcow's git status but the hook file mailcow documents (main.cf: every start rewrites its tail). */
    const expectCleanCheckout = async (hook: boolean) => {
      const status = (await git(["status", "--porcelain", "--untracked-files=all"])).stdout.split("\n").filter(Boolean);
      expect(status.filter((line) => line !== " M data/conf/postfix/main.cf")).toEqual(
        hook ? ["?? post_update_hook.sh", "?? pre_update_hook.sh"] : [],
      );
    };
    /** What update.sh's git pull does: docker-compose.yml names a new postfix image, built here just before. */
    const upstreamMovesTo = async (base: string, change = "") => {
      await engine!.docker(["build", "--network", "host", "--tag", base, "-"], {
        stdin: `FROM ${standIns.postfixBase}\n${change}\nLABEL test.mailcow.version=${tagOf(base)}\n`,
      });
      const compose = join(places.mailcowDir, "docker-compose.yml");
      writeFileSync(compose, readFileSync(compose, "utf8").replace(/ghcr\.io\/mailcow\/postfix:\S+/, base));
      await git(["commit", "-qm", "mailcow update", "docker-compose.yml"]);
    };

    beforeAll(async () => {
      const parentDir = mkdtempSync(join(engine!.root, "readme-"));
      const origin = join(parentDir, "origin.git");
      await run(["git", "clone", "-q", "--bare", REPO, origin]);
      places = { parentDir, mailcowDir: join(parentDir, "mailcow-dockerized"), repositoryUrl: origin };
      admin = MailcowProject.create(engine!, "mailcowdockerized", {
        hostname: HOSTNAME,
        stock: true,
        dir: places.mailcowDir,
        projectDirInEnv: false,
        postfixTagInConf: false,
      });
      projects.push(admin);
      defaultCert = makeCertificate(admin.sslDir, { names: [HOSTNAME, "example.test"], keyType: "rsa" });
      other = makeCertificateDirectory(admin.sslDir, "other.example.test", ["other.example.test"]);
      copyFileSync(join(places.mailcowDir, "gitignore"), join(places.mailcowDir, ".gitignore"));
      await git(["init", "-q"]);
      await git(["add", "-A"]);
      await git(["commit", "-qm", "mailcow"]);
      // A stock install, running.
      await admin.up();
      await admin.waitForBanner();
      await git(["commit", "-qam", "after the stock start"]);
    }, 240_000);

    test("install: clone next to mailcow, copy the override, the hook's install; ours runs, the right certificates", async () => {
      await step("clone");
      await step("override");
      expect(await row("install")).toMatch(
        /^mailcow-postfix-init-hook: ours on ghcr\.io\/mailcow\/postfix:3\.10\.12-1 in \d+ s \(banner \d+ s after the switch\); serves example\.test mail\.example\.test other\.example\.test; built from release [0-9a-f]+ /,
      );
      expect(await runningImage()).toBe(`local/mailcow-postfix-init:${tagOf(standIns.postfixBase)}`);
      await admin.waitForBanner();
      await expectRightCertificates();
      expect(await acmeKeysOfOurs()).toEqual({
        env: ["BASH_ENV=/usr/local/share/mailcow-postfix-init/acme-bash-env.sh", "MPI_WATCH=y"],
        mounts: ["/usr/local/share/mailcow-postfix-init/acme-bash-env.sh"],
      });
    }, 900_000);

    test("did it work, check: `check` passes, the log has the summary line and no error line", async () => {
      expect(await row("check")).toBe("OK: 0 errors, 0 warnings");
      const result = await step("did-it-work");
      expect(result.stdout).toMatch(
        /mailcow-postfix-init: sni-map: \d+ names mapped .*; 0 errors, 0 warnings -> \/opt\/postfix\/conf\/sni\.map/,
      );
      // The troubleshooting block on a clean install: our warnings and waits, if any; no error.
      const trouble = await step("troubleshooting", { allowFailure: true });
      const lines = trouble.stdout.split("\n").filter(Boolean);
      expect({
        exitCode: trouble.exitCode,
        errors: lines.filter((line) => line.includes("mailcow-postfix-init: error:")),
        others: lines.filter((line) => !/mailcow-postfix-init: (warning:|waiting|still waiting)/.test(line)),
      }).toEqual({ exitCode: lines.length > 0 ? 0 : 1, errors: [], others: [] });
      await expectCleanCheckout(true);
    }, 120_000);

    test("mailcow update: ./update.sh ends with ours on the new base; nothing of ours in git but the hook", async () => {
      await upstreamMovesTo(NEWER_BASE);
      expect(await row("mailcow update")).toBe(
        "mailcow-postfix-init-hook: ours on ghcr.io/mailcow/postfix:3.10.13-1 already; nothing to do",
      );
      expect(await runningImage()).toBe("local/mailcow-postfix-init:3.10.13-1");
      await admin.waitForBanner();
      expect(await admin.logs()).toContain(`built from ${NEWER_BASE}, the postfix image mailcow's docker-compose.yml names`);
      await expectRightCertificates();
      await expectCleanCheckout(true);
    }, 900_000);

    test("unknown base: ./update.sh ends on mailcow's own image; a release that knows it, pulled by the hook, brings ours back", async () => {
      const drift = readFileSync(FIXTURE_SCRIPT, "utf8").replace(/^ {2}sleep 1$/m, "  sleep 2");
      await upstreamMovesTo(UNKNOWN_BASE, "RUN sed -i 's/^  sleep 1$/  sleep 2/' /opt/postfix.sh");
      expect(await row("unknown base")).toMatch(
        /^mailcow-postfix-init-hook: mailcow's own image and startup on ghcr\.io\/mailcow\/postfix:3\.10\.14-1 in \d+ s, because this release refused it \(base fingerprint [0-9a-f]{16}: /,
      );
      expect(JSON.parse((await engine!.docker(["inspect", await admin.containerId()])).stdout)[0].Image).toBe(
        JSON.parse((await engine!.docker(["image", "inspect", UNKNOWN_BASE])).stdout)[0].Id,
      );
      await admin.waitForBanner();
      await expectRightCertificates();

      // A release that knows the base: its fingerprint entry in known-bases.json, pushed to the remote the admin cloned.
      const release = join(places.parentDir, "release");
      await run(["git", "clone", "-q", places.repositoryUrl, release]);
      const scratch = mkdtempSync(join(engine!.root, "drift-"));
      writeFileSync(join(scratch, "postfix.sh"), drift);
      const standIn = join(REPO, "docker", "test", "images", "postfix-base");
      const entry = JSON.parse(
        (
          await run(
            [
              "node_modules/.bin/bun",
              "src/main.ts",
              "templates",
              "fingerprint",
              "--from",
              join(scratch, "postfix.sh"),
              "--entrypoint",
              join(standIn, "docker-entrypoint.sh"),
              "--supervisord",
              join(standIn, "supervisord.conf"),
            ],
            { cwd: REPO },
          )
        ).stdout,
      )["postfix.sh"];
      const knownFile = join(release, "src", "templates", "known-bases.json");
      const known = JSON.parse(readFileSync(knownFile, "utf8"));
      known.files["postfix.sh"].push({ ...entry, sources: ["test release"], verified: "test release" });
      writeFileSync(knownFile, `${JSON.stringify(known, null, 2)}\n`);
      await git(["commit", "-qam", "knows 3.10.14-1"], release);
      await git(["push", "-q"], release);

      await step("allow-pull");
      expect(await row("back to ours")).toMatch(
        /^mailcow-postfix-init-hook: ours on ghcr\.io\/mailcow\/postfix:3\.10\.14-1 in \d+ s .*; built from release [0-9a-f]+ \(pulled [0-9a-f]+\.\.[0-9a-f]+\), /,
      );
      expect(await runningImage()).toBe("local/mailcow-postfix-init:3.10.14-1");
      await admin.waitForBanner();
      await expectRightCertificates();
      expect((await step("hook-run")).stdout.trim()).toBe(
        "mailcow-postfix-init-hook: ours on ghcr.io/mailcow/postfix:3.10.14-1 already; nothing to do",
      );
      await expectCleanCheckout(true);
    }, 900_000);

    test("remove the hook, then back to stock: mailcow's image runs again, nothing of ours left", async () => {
      expect(await row("remove the hook")).toBe(
        `mailcow-postfix-init-hook: removed ${places.mailcowDir}/post_update_hook.sh (it held only our block)`,
      );
      expect(await runningImage()).toBe("local/mailcow-postfix-init:3.10.14-1");
      expect(await row("back to stock")).toBe(
        `mailcow-postfix-init-hook: stock: postfix-mailcow runs ${UNKNOWN_BASE} with mailcow's own startup; our hook blocks, override (acme-mailcow's BASH_ENV with it), settings and images are gone`,
      );
      await admin.waitForBanner();
      expect(await runningImage()).toBe(UNKNOWN_BASE);
      expect((await engine!.docker(["images", "--format", "{{.Repository}}:{{.Tag}}", "local/mailcow-postfix-init"])).stdout.trim()).toBe(
        "",
      );
      expect(readFileSync(join(places.mailcowDir, "mailcow.conf"), "utf8")).not.toContain("MPI_POSTFIX_");
      expect(await acmeKeysOfOurs()).toEqual({ env: [], mounts: [] });
      const served = await admin.served(["other.example.test"]);
      expect(served.get("other.example.test")).toBe(other.fingerprint);
      await expectCleanCheckout(false);
    }, 300_000);
  });
});

/** Our log lines that are errors (configuration warnings are expected on a lived-in conf dir). */
const errorLines = (log: string) => log.split("\n").filter((line) => line.startsWith("mailcow-postfix-init: error:"));

/** PIDs on this host whose cgroup belongs to the container. */
function processesInContainer(id: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cgroup`, "utf8").includes(id)) pids.push(Number(entry));
    } catch {}
  }
  return pids;
}

/**
 * An SMTP session held open inside the namespace: STARTTLS with SNI $1, EHLO, then it waits
 * for /tmp/session-go and sends NOOP. Prints "EHLO <reply>" and "NOOP <reply>".
 */
const HELD_SESSION = readFileSync(join(import.meta.dir, "../support/held-session.sh"), "utf8");
