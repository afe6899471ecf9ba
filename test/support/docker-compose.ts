import { X509Certificate } from "node:crypto";
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DOCKER, run, type Engine, type RunOptions, type RunResult } from "./docker.ts";
import { dockerfileArg, REPO, type ProjectBuild, type ServiceBuild } from "./docker-images.ts";
import { writeLivedInConf } from "./lived-in.ts";

// One mailcow-like compose project per scenario, driven as an admin drives mailcow: a fresh
// directory holding docker/test/compose/docker-compose.yml, .env (like mailcow.conf, with
// COMPOSE_PROJECT_NAME), data/ (conf, ssl, hooks), and docker/docker-compose.override.yml
// copied in as docker-compose.override.yml; then plain `docker compose ...` there (Compose v2,
// BuildKit). The conf dir is a lived-in install's (test/support/lived-in.ts).

const BASE_COMPOSE = join(REPO, "docker", "test", "compose");
export const OVERRIDE = join(REPO, "docker", "docker-compose.override.yml");
/**
 * The only addition to the admin's files, for `build` alone: the test engine runs without a
 * bridge network (no host network changes), so BuildKit's RUN steps use the host's network.
 */
const BUILD_ON_HOST_NETWORK = join(REPO, "docker", "test", "build-host-network.yml");
export const POSTFIX = "postfix-mailcow";

export interface ProjectOptions {
  hostname: string;
  /** Extra lines for .env, e.g. SKIP_LETS_ENCRYPT. */
  env?: Record<string, string>;
  /** Without the override: the stand-in base image with its stock-shaped startup. */
  stock?: boolean;
  /** The mailcow directory to use (created), instead of a fresh temp dir. */
  dir?: string;
  /**
   * Point MAILCOW_POSTFIX_INIT_DIR at this checkout (default). Off: the override's default,
   * ../mailcow-postfix-init, as the README installs it.
   */
  projectDirInEnv?: boolean;
  /**
   * Compose files layered over the admin's two for every command (COMPOSE_FILE in .env), e.g.
   * docker/test/arm64.yml, which builds and runs postfix-mailcow for linux/arm64.
   */
  extraComposeFiles?: string[];
  /** Write MPI_POSTFIX_TAG into mailcow.conf (default); off: left to mailcow-postfix-init-hook. */
  postfixTagInConf?: boolean;
}

export class MailcowProject {
  readonly sslDir: string;
  readonly confDir: string;

  private constructor(
    readonly engine: Engine,
    readonly name: string,
    readonly dir: string,
    readonly options: ProjectOptions,
  ) {
    this.sslDir = join(dir, "data", "assets", "ssl");
    this.confDir = join(dir, "data", "conf", "postfix");
  }

  /** README step 2: copy the override next to mailcow's docker-compose.yml (the switch from stock). */
  useOverride(): void {
    copyFileSync(OVERRIDE, join(this.dir, "docker-compose.override.yml"));
  }

  /** README "Going back to stock": the override file removed. */
  useStock(): void {
    rmSync(join(this.dir, "docker-compose.override.yml"), { force: true });
  }

  /** Lay out the project directory; certificates go into `sslDir` before `up`. */
  static create(engine: Engine, name: string, options: ProjectOptions): MailcowProject {
    const dir = options.dir ?? mkdtempSync(join(engine.root, `project-${name}-`));
    mkdirSync(dir, { recursive: true });
    cpSync(BASE_COMPOSE, dir, { recursive: true });
    for (const sub of ["data/assets/ssl", "data/hooks/postfix", "data/conf/postfix"]) mkdirSync(join(dir, sub), { recursive: true });
    // Only loopback in the containers' shared namespace; Postfix logs through syslog-ng there.
    writeLivedInConf(join(dir, "data", "conf", "postfix"), { root: "", listen: "127.0.0.1" });
    const env = {
      DBNAME: "mailcow",
      DBUSER: "mailcow",
      DBPASS: "Test-Pass-4-db",
      DBROOT: "unused",
      REDISPASS: "unused",
      TZ: "UTC",
      MAILCOW_HOSTNAME: options.hostname,
      COMPOSE_PROJECT_NAME: name,
      // The one place the override takes mailcow's postfix tag from (mailcow-postfix-init-hook sets it).
      ...(options.postfixTagInConf === false ? {} : { MPI_POSTFIX_TAG: tagOf(dockerfileArg("MAILCOW_POSTFIX_IMAGE")) }),
      // The checkout Dockerfile.postfix builds from; another one only when debugging the harness.
      ...(options.projectDirInEnv === false ? {} : { MAILCOW_POSTFIX_INIT_DIR: process.env.MPI_PROJECT_DIR ?? REPO }),
      ...(options.extraComposeFiles
        ? { COMPOSE_FILE: ["docker-compose.yml", "docker-compose.override.yml", ...options.extraComposeFiles].join(":") }
        : {}),
      ...options.env,
    };
    // As in mailcow: the settings live in mailcow.conf, and .env links to it for compose.
    writeFileSync(
      join(dir, "mailcow.conf"),
      Object.entries(env)
        .map(([k, v]) => `${k}=${v}\n`)
        .join(""),
    );
    rmSync(join(dir, ".env"), { force: true });
    symlinkSync("mailcow.conf", join(dir, ".env"));
    const project = new MailcowProject(engine, name, dir, options);
    if (!options.stock) project.useOverride();
    return project;
  }

  /** `docker compose ARGS` in the project directory, as an admin types it. */
  compose(args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    return run([DOCKER, "compose", "--ansi", "never", ...args], {
      timeoutMs: 180_000,
      ...options,
      cwd: this.dir,
      env: { ...this.engine.env, ...options.env },
    });
  }

  /** The postfix-mailcow build section as compose resolves it (image, context, args). */
  async postfixBuild(): Promise<ServiceBuild> {
    const config = Bun.YAML.parse((await this.compose(["config"])).stdout) as ComposeConfig;
    const service = config.services[POSTFIX];
    if (!service?.build?.context || !service.image) throw new Error(`${POSTFIX} has no image + build section after the override`);
    return {
      image: service.image,
      context: service.build.context,
      dockerfile: service.build.dockerfile ?? "Dockerfile",
      args: Object.fromEntries(Object.entries(service.build.args ?? {}).map(([k, v]) => [k, String(v)])),
    };
  }

  /**
   * README step 3's `docker compose build postfix-mailcow` (BuildKit), with the host-network
   * layer for this engine; the image as compose tagged it.
   */
  async build(): Promise<ProjectBuild> {
    const service = await this.postfixBuild();
    const layers = ["docker-compose.yml", "docker-compose.override.yml", ...(this.options.extraComposeFiles ?? []), BUILD_ON_HOST_NETWORK];
    const files = layers.flatMap((file) => ["-f", file]);
    const result = await this.compose([...files, "build", POSTFIX], { timeoutMs: 900_000 });
    return { image: service.image, args: service.args, durationMs: result.durationMs };
  }

  async up(): Promise<void> {
    await this.compose(["up", "-d", "--no-build"]);
  }

  async down(): Promise<void> {
    await this.compose(["down", "-v", "--timeout", "5"], { allowFailure: true });
  }

  async containerId(service = POSTFIX): Promise<string> {
    const id = (await this.compose(["ps", "-q", service])).stdout.trim();
    if (!id) throw new Error(`no container for ${service} in project ${this.name}`);
    return id;
  }

  async exec(argv: readonly string[], options: RunOptions = {}, service = POSTFIX): Promise<RunResult> {
    return this.engine.docker(["exec", "-i", await this.containerId(service), ...argv], { timeoutMs: 60_000, ...options });
  }

  /** Everything the container printed (supervisord, syslog-ng, our binary), stdout + stderr. */
  async logs(service = POSTFIX): Promise<string> {
    const result = await this.engine.docker(["logs", await this.containerId(service)]);
    return result.stdout + result.stderr;
  }

  /** Poll port 25 inside the namespace until it greets with 220. */
  async waitForBanner(timeoutMs = 90_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    const crashes = async () => (await this.logs().catch(() => "")).match(/exited: postfix \(.*not expected\)/g)?.length ?? 0;
    const crashesBefore = await crashes();
    for (let attempt = 1; ; attempt++) {
      const probe = await this.exec(["bash", "-c", BANNER_PROBE], { allowFailure: true, timeoutMs: 10_000 }, "unbound-mailcow");
      if (probe.exitCode === 0 && probe.stdout.startsWith("220")) return probe.stdout.trim();
      // Fail early when supervisord keeps restarting the postfix program.
      const looping = attempt % 10 === 0 && (await crashes()) - crashesBefore >= 3;
      if (looping || Date.now() > deadline) {
        const tail = (await this.logs().catch((error) => String(error))).split("\n").slice(-40).join("\n");
        const why = looping ? "the postfix program exited 3 times" : `no SMTP banner within ${timeoutMs} ms`;
        throw new Error(`${why}; ${POSTFIX} log tail:\n${tail}`);
      }
      await Bun.sleep(300);
    }
  }

  /**
   * What a client receives for each SNI name: STARTTLS on 127.0.0.1:25 inside the namespace,
   * `openssl s_client -servername NAME`; the leaf's SHA-256 fingerprint, or null when the
   * handshake gave no certificate.
   */
  async served(names: readonly string[]): Promise<Map<string, string | null>> {
    const result = await this.exec(["bash", "-c", SNI_PROBE, "sni-probe", ...names], { timeoutMs: 120_000 });
    const served = new Map<string, string | null>();
    for (const block of result.stdout.split("=== ").slice(1)) {
      const [name = "", ...rest] = block.split("\n");
      const pem = rest.join("\n").match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/)?.[0];
      served.set(name.trim(), pem ? new X509Certificate(pem).fingerprint256 : null);
    }
    return served;
  }
}

/** The tag of an image reference (after the last colon). */
export const tagOf = (image: string): string => image.slice(image.lastIndexOf(":") + 1);

const BANNER_PROBE = "exec 3<>/dev/tcp/127.0.0.1/25 && read -r -t 5 line <&3 && printf '%s\\n' \"$line\"";

const SNI_PROBE = `for name in "$@"; do
  echo "=== $name"
  timeout 15 openssl s_client -starttls smtp -connect 127.0.0.1:25 -servername "$name" </dev/null 2>/dev/null \\
    | openssl x509 2>/dev/null || true
done`;

interface ComposeConfig {
  services: Record<string, { image?: string; build?: { context?: string; dockerfile?: string; args?: Record<string, unknown> } }>;
}
