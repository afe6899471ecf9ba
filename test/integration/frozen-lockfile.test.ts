import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, readdirSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { REPO } from "../support/docker-images.ts";
import { makeTempDir } from "../support/tmp.ts";

// Dockerfile.postfix's build stage runs `bun install --frozen-lockfile --production`: a package
// whose bytes differ from the integrity hash in bun.lock must stop the build, never enter the
// binary. Checked with this project's Bun against a registry on loopback that serves the
// genuine tarballs (npm's cache from `npm ci`, content-addressed by the same hashes), then the
// same with one byte of zod changed.

const BUN = join(REPO, "node_modules", ".bin", "bun");
const NPM_CACHE = join(process.env.npm_config_cache ?? join(homedir(), ".npm"), "_cacache");

/** Tarball path on the registry (/zod/-/zod-4.6.7.tgz) -> file in npm's content-addressed cache. */
function npmCacheTarballs(): Map<string, string> {
  const found = new Map<string, string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else
        for (const line of readFileSync(path, "utf8").split("\n")) {
          const record = line.slice(line.indexOf("\t") + 1);
          const { key, integrity } = (record.startsWith("{") ? JSON.parse(record) : {}) as { key?: string; integrity?: string };
          if (!key?.endsWith(".tgz") || !integrity?.startsWith("sha512-")) continue;
          const hex = Buffer.from(integrity.slice(7).split(" ")[0]!, "base64").toString("hex");
          found.set(
            new URL(key.replace(/^make-fetch-happen:request-cache:/, "")).pathname,
            join(NPM_CACHE, "content-v2", "sha512", hex.slice(0, 2), hex.slice(2, 4), hex.slice(4)),
          );
        }
    }
  };
  walk(join(NPM_CACHE, "index-v5"));
  return found;
}

/** The same tarball with one byte of its first file's contents flipped, gzipped again. */
function tampered(tgz: Buffer): Uint8Array {
  const tar = new Uint8Array(Bun.gunzipSync(new Uint8Array(tgz)));
  tar[512 + 10] = tar[512 + 10]! ^ 1; // past the first 512-byte header: file data, no checksum
  return Bun.gzipSync(tar);
}

let tarballs: Map<string, string>;
let tamper: string | undefined;
const requested: string[] = [];
let registry: ReturnType<typeof Bun.serve>;

beforeAll(() => {
  if (!existsSync(NPM_CACHE)) throw new Error(`no npm cache at ${NPM_CACHE}: run \`npm ci\` in ${REPO} first`);
  tarballs = npmCacheTarballs();
  registry = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(request) {
      const path = new URL(request.url).pathname;
      requested.push(path);
      const file = tarballs.get(path);
      if (!file || !existsSync(file)) return new Response("not in npm's cache", { status: 404 });
      const body = readFileSync(file);
      return new Response(path === tamper ? tampered(body) : body);
    },
  });
});
afterAll(() => registry?.stop(true));

async function frozenInstall() {
  const dir = makeTempDir("mpi-lockfile-");
  try {
    for (const file of ["package.json", "bun.lock"]) copyFileSync(join(REPO, file), join(dir.path, file));
    const proc = Bun.spawn([BUN, "install", "--frozen-lockfile", "--production"], {
      cwd: dir.path,
      env: {
        PATH: process.env.PATH,
        HOME: dir.path,
        BUN_INSTALL_CACHE_DIR: join(dir.path, "cache"),
        BUN_CONFIG_REGISTRY: `http://127.0.0.1:${registry.port}/`,
      },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return { exitCode, output: stdout + stderr, zod: existsSync(join(dir.path, "node_modules", "zod", "package.json")) };
  } finally {
    dir.cleanup();
  }
}

describe("bun install --frozen-lockfile (the build stage's install)", () => {
  test("the genuine packages install, every one fetched from the loopback registry", async () => {
    tamper = undefined;
    requested.length = 0;
    const install = await frozenInstall();
    expect({ exitCode: install.exitCode, zod: install.zod }).toEqual({ exitCode: 0, zod: true });
    expect(requested).toContain("/zod/-/zod-4.6.7.tgz");
    expect(requested.filter((path) => !tarballs.has(path))).toEqual([]);
  }, 60_000);

  test("zod's tarball changed by one byte: the install fails on bun.lock's integrity hash", async () => {
    tamper = "/zod/-/zod-4.6.7.tgz";
    const install = await frozenInstall();
    expect(install.exitCode).not.toBe(0);
    expect(install.output).toContain("Integrity check failed for tarball: zod");
    expect(install.zod).toBe(false);
  }, 60_000);
});
