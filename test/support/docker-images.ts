import {
  copyFileSync,
  cpSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { run, type Engine } from "./docker.ts";

// Images for the container tests, all made locally because no registry can be reached:
// a Debian trixie base from debootstrap, stand-ins for the two images Dockerfile.postfix
// starts FROM (tagged with the names it uses), sidecars, and Dockerfile.postfix itself.
// Every build goes through the engine's layer cache, so a second build in one run is cheap.

export const REPO = realpathSync(join(import.meta.dir, "..", ".."));
const IMAGES = join(REPO, "docker", "test", "images");
export const BASE_IMAGE = "debian:trixie-slim";
export const SIDECAR_IMAGE = "mpi-test/sidecars:latest";

/** Default of `ARG NAME=value` in Dockerfile.postfix, so stand-ins carry the names it uses. */
export function dockerfileArg(name: string): string {
  const text = readFileSync(join(REPO, "Dockerfile.postfix"), "utf8");
  const match = text.match(new RegExp(`^ARG ${name}=(\\S+)$`, "m"));
  if (!match?.[1]) throw new Error(`Dockerfile.postfix has no \`ARG ${name}=...\` line`);
  return match[1];
}

/** The mirror apt on this machine uses (deb822 or one-line sources), else Debian's CDN. */
export function debianMirror(): string {
  if (process.env.MPI_DEBIAN_MIRROR) return process.env.MPI_DEBIAN_MIRROR;
  const dirs = ["/etc/apt/sources.list.d"].filter(existsSync);
  const files = ["/etc/apt/sources.list", ...dirs.flatMap((dir) => readdirSync(dir).map((f) => join(dir, f)))];
  for (const file of files.filter(existsSync)) {
    const text = readFileSync(file, "utf8");
    const uri = text.match(/^URIs:\s*(\S+\/debian)\/?\s*$/m)?.[1] ?? text.match(/^deb\s+(?:\[[^\]]*\]\s+)?(\S+\/debian)\/?\s/m)?.[1];
    if (uri) return uri;
  }
  return "http://deb.debian.org/debian";
}

/** The image's architecture (amd64, arm64), or undefined when there is no such image. */
async function imageArchitecture(engine: Engine, tag: string): Promise<string | undefined> {
  const inspect = await engine.docker(["image", "inspect", "--format", "{{.Architecture}}", tag], { allowFailure: true });
  return inspect.exitCode === 0 ? inspect.stdout.trim() : undefined;
}

export type DebianArch = "amd64" | "arm64";

/**
 * debootstrap --variant=minbase trixie (for ARCH; arm64 needs test/support/qemu.ts's
 * emulation, debootstrap's second stage runs the target's binaries) and import it as
 * debian:trixie-slim for that platform. With MPI_CONTAINER_CACHE set, the tarball is kept
 * there and reused by later runs.
 */
export async function ensureBaseImage(engine: Engine, arch: DebianArch = "amd64"): Promise<void> {
  if ((await imageArchitecture(engine, BASE_IMAGE)) === arch) return;
  const cache = process.env.MPI_CONTAINER_CACHE;
  const name = arch === "amd64" ? "trixie-minbase.tar" : `trixie-minbase-${arch}.tar`;
  const cached = cache ? join(cache, name) : undefined;
  if (cached && existsSync(cached)) {
    await loadRootfs(engine, cached, BASE_IMAGE, arch);
    return;
  }
  const rootfs = join(engine.root, `rootfs-${arch}`);
  rmSync(rootfs, { recursive: true, force: true });
  await run(["debootstrap", `--arch=${arch}`, "--variant=minbase", "trixie", rootfs, debianMirror()], { timeoutMs: 1_200_000 });
  for (const junk of ["var/cache/apt/archives", "var/lib/apt/lists"]) {
    for (const entry of readdirSync(join(rootfs, junk))) {
      if (entry !== "partial" && entry !== "lock") rmSync(join(rootfs, junk, entry), { recursive: true, force: true });
    }
  }
  const tarball = cached ?? join(engine.root, name);
  if (cache) mkdirSync(cache, { recursive: true });
  await run(["tar", "-C", rootfs, "--numeric-owner", "-cf", tarball, "."]);
  rmSync(rootfs, { recursive: true, force: true });
  await loadRootfs(engine, tarball, BASE_IMAGE, arch);
  if (!cached) rmSync(tarball, { force: true });
}

/**
 * A root file system tarball as a one-layer image for ARCH. Not `docker import --platform`:
 * Debian's Docker 20.10 ignores that flag unless the daemon runs experimental (measured: the
 * image came out linux/amd64, and BuildKit then looked for an arm64 base on Docker Hub). A
 * `docker save`-format archive states the architecture in its config, as a pulled image does.
 */
async function loadRootfs(engine: Engine, rootfsTar: string, tag: string, arch: DebianArch): Promise<void> {
  const dir = mkdtempSync(join(engine.root, "load-"));
  try {
    const hasher = new Bun.CryptoHasher("sha256");
    for await (const chunk of Bun.file(rootfsTar).stream()) hasher.update(chunk);
    const diffId = `sha256:${hasher.digest("hex")}`;
    try {
      linkSync(rootfsTar, join(dir, "layer.tar"));
    } catch {
      copyFileSync(rootfsTar, join(dir, "layer.tar")); // the cache on another file system
    }
    const config = {
      architecture: arch,
      os: "linux",
      config: { Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], Cmd: ["bash"] },
      rootfs: { type: "layers", diff_ids: [diffId] },
      history: [{ created_by: `debootstrap --arch=${arch} --variant=minbase trixie (test/support/docker-images.ts)` }],
    };
    writeFileSync(join(dir, "config.json"), JSON.stringify(config));
    writeFileSync(join(dir, "manifest.json"), JSON.stringify([{ Config: "config.json", RepoTags: [tag], Layers: ["layer.tar"] }]));
    const archive = join(engine.root, `load-${arch}.tar`);
    await run(["tar", "-C", dir, "-cf", archive, "manifest.json", "config.json", "layer.tar"]);
    try {
      await engine.docker(["load", "--quiet", "--input", archive], { timeoutMs: 600_000 });
    } finally {
      rmSync(archive, { force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const loaded = await imageArchitecture(engine, tag);
  if (loaded !== arch) throw new Error(`${tag} loaded as ${loaded}, expected ${arch}`);
}

/** docker build with host networking (apt and bun install reach their mirrors), never --pull. */
export async function build(engine: Engine, context: string, tag: string, extra: readonly string[] = []) {
  return engine.docker(["build", "--network", "host", "--tag", tag, ...extra, context], { timeoutMs: 900_000 });
}

/** Copy docker/test/images/NAME plus extra files into a fresh build context. */
function context(engine: Engine, name: string, extra: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(engine.root, `ctx-${name}-`));
  cpSync(join(IMAGES, name), dir, { recursive: true });
  for (const [target, source] of Object.entries(extra)) cpSync(source, join(dir, target));
  return dir;
}

export const ACME_STAND_INS_IMAGE = "mpi-test/acme-stand-ins:latest";

/** The stand-ins mailcow's acme scripts talk to (docker/test/images/acme-stand-ins), on debian:trixie-slim. */
export async function buildAcmeStandIns(engine: Engine): Promise<void> {
  const dir = context(engine, "acme-stand-ins");
  try {
    await build(engine, dir, ACME_STAND_INS_IMAGE);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface StandIns {
  postfixBase: string;
  bun: string;
}

/** Build the mailcow-shaped postfix stand-in, the Bun stand-in and the sidecars, in parallel. */
export async function buildStandIns(engine: Engine): Promise<StandIns> {
  const bunBinary = realpathSync(join(REPO, "node_modules", ".bin", "bun"));
  const [standIns] = await Promise.all([buildPostfixAndBunStandIns(engine, bunBinary), buildSidecars(engine)]);
  return standIns;
}

/** The MariaDB and dnsmasq sidecar image, on whatever debian:trixie-slim is now. */
async function buildSidecars(engine: Engine): Promise<void> {
  const sidecars = context(engine, "sidecars");
  try {
    await build(engine, sidecars, SIDECAR_IMAGE);
  } finally {
    rmSync(sidecars, { recursive: true, force: true });
  }
}

/**
 * The same stand-ins for linux/arm64, built under emulation (test/support/qemu.ts) as an arm64
 * host builds them natively: debian:trixie-slim is imported for arm64 and the Bun stand-in
 * carries the arm64 Bun of this project's version. The sidecars (MariaDB, dnsmasq) stay amd64
 * and native; they are built first, on the amd64 base, before the tag moves to arm64.
 */
export async function buildArm64StandIns(engine: Engine): Promise<StandIns> {
  await ensureBaseImage(engine, "amd64");
  await buildSidecars(engine);
  await ensureBaseImage(engine, "arm64");
  return buildPostfixAndBunStandIns(engine, await fetchBunBinary(engine, "aarch64"), ["--platform", "linux/arm64"]);
}

/**
 * Bun's own binary for another CPU, from the npm registry as `npm install bun` gets it
 * (@oven/bun-linux-ARCH at the version package.json pins).
 */
async function fetchBunBinary(engine: Engine, arch: "aarch64"): Promise<string> {
  const version = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")).devDependencies.bun as string;
  const dir = join(engine.root, `bun-linux-${arch}-${version}`);
  const binary = join(dir, "package", "bin", "bun");
  if (existsSync(binary)) return binary;
  mkdirSync(dir, { recursive: true });
  const packed = await run(["npm", "pack", "--silent", `@oven/bun-linux-${arch}@${version}`], { cwd: dir, timeoutMs: 300_000 });
  await run(["tar", "-xzf", packed.stdout.trim().split("\n").at(-1)!], { cwd: dir });
  return binary;
}

/** The postfix-base and Bun stand-ins (tagged with the names Dockerfile.postfix uses), side by side. */
async function buildPostfixAndBunStandIns(engine: Engine, bunBinary: string, extra: readonly string[] = []): Promise<StandIns> {
  const postfixBase = dockerfileArg("MAILCOW_POSTFIX_IMAGE");
  const bun = dockerfileArg("BUN_IMAGE");
  const upstreamScript = join(REPO, "test", "fixtures", "upstream-postfix.sh");
  if (!existsSync(upstreamScript)) throw new Error(`missing ${upstreamScript} (the upstream-shaped /opt/postfix.sh)`);
  const bunContext = context(engine, "bun", { bun: bunBinary });
  // The host's trust for the registry: its Node/Bun bundle, else the system bundle apt and curl use
  // (CI's environment may lack NODE_EXTRA_CA_CERTS while an egress proxy still needs its CA).
  const extraCa = [process.env.NODE_EXTRA_CA_CERTS, "/etc/ssl/certs/ca-certificates.crt"].find((path) => path && existsSync(path));
  writeFileSync(join(bunContext, "extra-ca.crt"), extraCa ? readFileSync(extraCa) : "");
  // MPI_POSTFIX_BASE_ARCHIVE: `docker save` of mailcow's real postfix image under that name
  // (CONTRIBUTING's real-image check builds it), loaded instead of the stand-in: the benches then
  // measure ours and mailcow's own startup on the real base.
  const realBase = process.env.MPI_POSTFIX_BASE_ARCHIVE;
  const contexts = realBase ? [bunContext] : [context(engine, "postfix-base", { "postfix.sh": upstreamScript }), bunContext];
  try {
    await Promise.all([
      realBase ? engine.docker(["load", "--input", realBase], { timeoutMs: 600_000 }) : build(engine, contexts[0]!, postfixBase, extra),
      build(engine, bunContext, bun, extra),
    ]);
  } finally {
    for (const dir of contexts) rmSync(dir, { recursive: true, force: true });
  }
  return { postfixBase, bun };
}

export interface ProjectBuild {
  image: string;
  args: Record<string, string>;
  durationMs: number;
}

export interface ServiceBuild {
  image: string;
  context: string;
  dockerfile: string;
  args: Record<string, string>;
}
