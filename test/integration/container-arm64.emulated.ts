import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { startEngine, stopEngine, type Engine } from "../support/docker.ts";
import { buildArm64StandIns, REPO, type ProjectBuild, type StandIns } from "../support/docker-images.ts";
import { MailcowProject } from "../support/docker-compose.ts";
import { makeCertificate, makeCertificateDirectory, type MadeCertificate } from "../support/certs.ts";
import { enableArm64Emulation, type Arm64Emulation } from "../support/qemu.ts";

// The image from Dockerfile.postfix for linux/arm64 (mailcow supports arm64 hosts), built and
// run under emulation on this x86-64 machine: an arm64 debian:trixie-slim from debootstrap,
// the arm64 stand-in of mailcow's postfix image and of oven/bun (arm64 Bun from the npm
// registry), `docker compose build` + `up` with docker/test/arm64.yml layered on the admin's
// files (postfix-mailcow gets `platform: linux/arm64`), then the same per-name certificate
// checks as on amd64, from a native client in the containers' namespace.
//
// Too slow for every `npm test` (~10 min, most of it apt and Bun under emulation), so it is
// named *.emulated.ts, which `bun test` does not pick up by itself: `npm run test:arm64` runs
// it, and .ci/run runs that after `npm test`. Needs root (dockerd, binfmt_misc, debootstrap).

const SETUP_MS = 2_400_000;
const HOSTNAME = "mail.example.test";
const ARM64_LAYER = join(REPO, "docker", "test", "arm64.yml");

let emulation: Arm64Emulation | undefined;
let engine: Engine | undefined;
let standIns: StandIns;
let image: ProjectBuild;
let project: MailcowProject | undefined;
let defaultCert: MadeCertificate;
const defaultNames = [HOSTNAME, "example.test", "autodiscover.example.test"];
const directories: Record<string, { names: string[]; fingerprint?: string }> = {
  "other.example.test": { names: ["other.example.test", "www.other.example.test"] },
  "third.example.test": { names: ["third.example.test"] },
};
const timings: Record<string, number> = {};

async function timed<T>(what: string, step: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await step();
  } finally {
    timings[what] = Math.round(performance.now() - started);
  }
}

async function expectRightCertificates(): Promise<void> {
  const expected = new Map<string, string>();
  for (const name of defaultNames) expected.set(name, defaultCert.fingerprint);
  for (const entry of Object.values(directories)) for (const name of entry.names) expected.set(name, entry.fingerprint!);
  const served = await project!.served([...expected.keys()]);
  for (const [name, fingerprint] of expected) expect({ name, served: served.get(name) }).toEqual({ name, served: fingerprint });
}

describe("arm64 image from Dockerfile.postfix, under emulation", () => {
  beforeAll(async () => {
    emulation = await enableArm64Emulation();
    engine = await startEngine();
    standIns = await timed("arm64 base and stand-ins", () => buildArm64StandIns(engine!));
    project = MailcowProject.create(engine, "arm64", { hostname: HOSTNAME, extraComposeFiles: [ARM64_LAYER] });
    defaultCert = makeCertificate(project.sslDir, { names: defaultNames, keyType: "ec" });
    for (const [dir, entry] of Object.entries(directories)) {
      entry.fingerprint = makeCertificateDirectory(project.sslDir, dir, entry.names, { keyType: "rsa" }).fingerprint;
    }
    image = await timed("docker compose build postfix-mailcow (linux/arm64)", () => project!.build());
    await timed("docker compose up -d -> SMTP banner", async () => {
      await project!.up();
      await project!.waitForBanner(600_000);
    });
  }, SETUP_MS);

  afterAll(async () => {
    await project?.down();
    if (engine) await stopEngine(engine);
    await emulation?.undo();
    // For the README's figure: how long each part took on this machine.
    console.log(`arm64 (emulated) timings, ms: ${JSON.stringify(timings)}`);
  }, 300_000);

  test("the image, its base and the binary in it are arm64; the container runs as aarch64", async () => {
    const architecture = async (tag: string) =>
      (await engine!.docker(["image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", tag])).stdout.trim();
    expect(await architecture(image.image)).toBe("linux/arm64");
    expect(await architecture(standIns.postfixBase)).toBe("linux/arm64");
    expect((await project!.exec(["uname", "-m"])).stdout.trim()).toBe("aarch64");
    // e_machine of the ELF header (bytes 18-19, little-endian): 0xb7 is AArch64.
    const machine = await project!.exec(["od", "-An", "-tx1", "-j18", "-N2", "/usr/local/bin/mailcow-postfix-init"]);
    expect(machine.stdout.trim()).toBe("b7 00");
    const version = await project!.exec(["/usr/local/bin/mailcow-postfix-init", "--version"]);
    expect(version.stdout.trim()).toContain(JSON.parse(await Bun.file(join(REPO, "package.json")).text()).version);
  }, 120_000);

  test("every name gets its certificate: the default certificate's names and each directory's", async () => {
    await expectRightCertificates();
    const log = await project!.logs();
    expect(log).toContain("sni-map: 6 names mapped (3 from the default certificate, 3 from 2 directories); 0 errors, 0 warnings");
    expect(log.split("\n").filter((line) => line.includes("mailcow-postfix-init: error:"))).toEqual([]);
  }, 300_000);

  test("`docker restart`: the banner again and the same certificates for every name", async () => {
    await timed("docker restart -> SMTP banner", async () => {
      await engine!.docker(["restart", "--time", "20", await project!.containerId()], { timeoutMs: 120_000 });
      await project!.waitForBanner(600_000);
    });
    await expectRightCertificates();
  }, 900_000);
});
