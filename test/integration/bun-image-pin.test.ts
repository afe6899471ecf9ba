import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { run, startEngine, stopEngine, type Engine } from "../support/docker.ts";
import { buildStandIns, ensureBaseImage, REPO, type StandIns } from "../support/docker-images.ts";

// Dockerfile.postfix's build stage by digest (BUN_IMAGE_DIGEST): with the digest the build uses
// exactly that image even after its tag moved; a digest the registry does not have fails the
// build. A registry of our own on loopback (Debian's docker-registry) holds the Bun stand-in,
// then a "moved" image under the same tag whose `bun` refuses to run.

const enabled = process.env.MPI_SKIP_CONTAINER_TESTS !== "1";
const REGISTRY_BIN = "/usr/bin/docker-registry";

let engine: Engine | undefined;
let standIns: StandIns;
let registry: ReturnType<typeof Bun.spawn> | undefined;
let bunRef: string;

/** Dockerfile.postfix on the stand-in base, its build stage from REF (+ DIGEST); exit code and output tail. */
async function buildWith(ref: string, digest: string) {
  const build = await engine!.docker(
    [
      "build",
      "--network",
      "host",
      "--file",
      join(REPO, "Dockerfile.postfix"),
      "--build-arg",
      `BUN_IMAGE=${ref}`,
      "--build-arg",
      `BUN_IMAGE_DIGEST=${digest}`,
      "--tag",
      "mpi-test/pinned:latest",
      REPO,
    ],
    { allowFailure: true, timeoutMs: 600_000 },
  );
  return { exitCode: build.exitCode, output: build.stdout + build.stderr };
}

/** Push IMAGE as bunRef to the loopback registry; the manifest digest it got. */
async function push(image: string): Promise<string> {
  await engine!.docker(["tag", image, bunRef]);
  const pushed = await engine!.docker(["push", bunRef], { timeoutMs: 300_000 });
  const digest = pushed.stdout.match(/digest: (sha256:[0-9a-f]{64})/)?.[1];
  if (!digest) throw new Error(`no digest in docker push output:\n${pushed.stdout}`);
  // The local name goes, so that every build below has to resolve it through the registry.
  await engine!.docker(["image", "rm", bunRef]);
  return digest;
}

describe.skipIf(!enabled)("the build stage's Bun image pinned by digest", () => {
  beforeAll(async () => {
    engine = await startEngine();
    await ensureBaseImage(engine);
    standIns = await buildStandIns(engine);
    const port = 20000 + Math.floor(Math.random() * 20000);
    const config = join(engine.root, "registry.yml");
    writeFileSync(
      config,
      `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${join(engine.root, "registry")}\nhttp:\n  addr: 127.0.0.1:${port}\n`,
    );
    registry = Bun.spawn([REGISTRY_BIN, "serve", config], { stdout: "ignore", stderr: "ignore" });
    for (let i = 0; i < 50 && (await run(["curl", "-fs", `http://127.0.0.1:${port}/v2/`], { allowFailure: true })).exitCode !== 0; i++)
      await Bun.sleep(100);
    // docker treats registries on 127.0.0.0/8 as plain-HTTP ("insecure") without configuration.
    bunRef = `127.0.0.1:${port}/oven/bun:1.4.5-debian`;
  }, 900_000);

  afterAll(async () => {
    registry?.kill();
    if (engine) await stopEngine(engine);
  }, 180_000);

  test("pinned: the original image even after the tag moved; the moved one by tag alone fails; an unknown digest fails", async () => {
    const original = await push(standIns.bun);
    await engine!.docker(["build", "--network", "none", "--tag", "mpi-test/moved-bun:latest", "-"], {
      stdin: `FROM ${standIns.bun}\nRUN printf '#!/bin/sh\\necho moved image >&2\\nexit 1\\n' > /usr/local/bin/bun\n`,
    });
    const moved = await push("mpi-test/moved-bun:latest");
    expect(moved).not.toBe(original);

    const pinned = await buildWith(bunRef, original);
    expect({ exitCode: pinned.exitCode, tail: pinned.exitCode === 0 ? "" : pinned.output.slice(-2000) }).toEqual({ exitCode: 0, tail: "" });
    const byTag = await buildWith(bunRef, "");
    expect(byTag.exitCode).not.toBe(0);
    expect(byTag.output).toContain("moved image");
    const unknown = await buildWith(bunRef, `sha256:${"0".repeat(64)}`);
    expect(unknown.exitCode).not.toBe(0);
  }, 900_000);
});
