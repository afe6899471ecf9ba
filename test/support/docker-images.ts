import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, writeFileSync } from "node:fs";
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

async function hasImage(engine: Engine, tag: string): Promise<boolean> {
  return (await engine.docker(["image", "inspect", tag], { allowFailure: true })).exitCode === 0;
}

/**
 * debootstrap --variant=minbase trixie and import it as debian:trixie-slim. With
 * MPI_CONTAINER_CACHE set, the tarball is kept there and reused by later runs.
 */
export async function ensureBaseImage(engine: Engine): Promise<void> {
  if (await hasImage(engine, BASE_IMAGE)) return;
  const cache = process.env.MPI_CONTAINER_CACHE;
  const cached = cache ? join(cache, "trixie-minbase.tar") : undefined;
  if (cached && existsSync(cached)) {
    await engine.docker(["import", cached, BASE_IMAGE]);
    return;
  }
  const rootfs = join(engine.root, "rootfs");
  rmSync(rootfs, { recursive: true, force: true });
  await run(["debootstrap", "--variant=minbase", "trixie", rootfs, debianMirror()], { timeoutMs: 600_000 });
  for (const junk of ["var/cache/apt/archives", "var/lib/apt/lists"]) {
    for (const entry of readdirSync(join(rootfs, junk))) {
      if (entry !== "partial" && entry !== "lock") rmSync(join(rootfs, junk, entry), { recursive: true, force: true });
    }
  }
  const tarball = cached ?? join(engine.root, "rootfs.tar");
  if (cache) mkdirSync(cache, { recursive: true });
  await run(["tar", "-C", rootfs, "--numeric-owner", "-cf", tarball, "."]);
  rmSync(rootfs, { recursive: true, force: true });
  await engine.docker(["import", tarball, BASE_IMAGE]);
  if (!cached) rmSync(tarball, { force: true });
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

export interface StandIns {
  postfixBase: string;
  bun: string;
}

/** Build the mailcow-shaped postfix stand-in, the Bun stand-in and the sidecars, in parallel. */
export async function buildStandIns(engine: Engine): Promise<StandIns> {
  const postfixBase = dockerfileArg("MAILCOW_POSTFIX_IMAGE");
  const bun = dockerfileArg("BUN_IMAGE");
  const upstreamScript = join(REPO, "test", "fixtures", "upstream-postfix.sh");
  if (!existsSync(upstreamScript)) throw new Error(`missing ${upstreamScript} (the upstream-shaped /opt/postfix.sh)`);
  const bunBinary = realpathSync(join(REPO, "node_modules", ".bin", "bun"));
  const bunContext = context(engine, "bun", { bun: bunBinary });
  // The host's trust for the registry: its Node/Bun bundle, else the system bundle apt and curl use
  // (CI's environment may lack NODE_EXTRA_CA_CERTS while an egress proxy still needs its CA).
  const extraCa = [process.env.NODE_EXTRA_CA_CERTS, "/etc/ssl/certs/ca-certificates.crt"].find((path) => path && existsSync(path));
  writeFileSync(join(bunContext, "extra-ca.crt"), extraCa ? readFileSync(extraCa) : "");
  const contexts = [context(engine, "postfix-base", { "postfix.sh": upstreamScript }), bunContext, context(engine, "sidecars")];
  try {
    await Promise.all([build(engine, contexts[0]!, postfixBase), build(engine, contexts[1]!, bun), build(engine, contexts[2]!, SIDECAR_IMAGE)]);
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
