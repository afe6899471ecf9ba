import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "../support/docker-images.ts";
import { adaptStep, readmeStep, readmeStepNames } from "../support/readme-steps.ts";
import { makeTempDir } from "../support/tmp.ts";

// The README's copy-paste blocks, checked without Docker: the container suite runs the shell
// blocks for real (slow); here every block it asks for must exist, every marked shell block
// must be run by it, and the merged-override example must be valid YAML holding the override
// this repository ships.

const README = readFileSync(join(REPO, "README.md"), "utf8");
const CONTAINER_SUITE = readFileSync(join(REPO, "test", "integration", "container.test.ts"), "utf8");
const SHIPPED_OVERRIDE = readFileSync(join(REPO, "docker", "docker-compose.override.yml"), "utf8");
/** The README blocks that are YAML, checked by this file instead of run by the container suite. */
const YAML_BLOCKS = ["merged-override"];

type Service = Record<string, unknown>;
const postfixService = (yaml: string): Service => (Bun.YAML.parse(yaml) as { services: Record<string, Service> }).services["postfix-mailcow"]!;

/** The names the container suite passes to its README `step(...)` helper. */
function containerSuiteSteps(): string[] {
  return [...new Set([...CONTAINER_SUITE.matchAll(/\bstep\("([a-z0-9-]+)"/g)].map((match) => match[1]!))];
}

describe("README suite blocks", () => {
  test("the container suite runs README blocks (the name pattern still finds them)", () => {
    expect(containerSuiteSteps()).toEqual(expect.arrayContaining(["clone", "override", "build-and-up", "did-it-work", "update-check", "update-catch-up", "back-to-stock"]));
  });

  test("every block the container suite runs is a shell block right after its marker", () => {
    for (const name of containerSuiteSteps()) {
      expect({ name, empty: readmeStep(name, README).trim() === "" }).toEqual({ name, empty: false });
    }
  });

  test("every marked block is run by the container suite or checked here", () => {
    const markers = readmeStepNames(README);
    expect(new Set(markers).size).toBe(markers.length);
    expect(markers.filter((name) => !YAML_BLOCKS.includes(name)).sort()).toEqual(containerSuiteSteps().sort());
  });

  test("an unknown name and a marker without its block are errors, not an empty script", () => {
    expect(() => readmeStep("no-such-step", README)).toThrow("README.md has no <!-- suite: no-such-step --> block");
    expect(() => readmeStep("x", "<!-- suite: x -->\n\ntext\n```sh\necho\n```\n")).toThrow("no ```sh block right after");
  });
});

describe("README: merging into an existing override", () => {
  const merged = readmeStep("merged-override", README, "yaml");

  test("it is valid YAML that keeps the admin's other service", () => {
    const services = (Bun.YAML.parse(merged) as { services: Record<string, Service> }).services;
    expect(Object.keys(services).filter((name) => name !== "postfix-mailcow").length).toBeGreaterThan(0);
  });

  test("its postfix-mailcow holds every key and list entry of the shipped override, with the same values", () => {
    const shipped = postfixService(SHIPPED_OVERRIDE);
    const example = postfixService(merged);
    expect(Object.keys(shipped).length).toBeGreaterThan(0);
    for (const [key, value] of Object.entries(shipped)) {
      if (Array.isArray(value)) expect({ key, entries: example[key] }).toEqual({ key, entries: expect.arrayContaining(value) });
      else expect({ key, value: example[key] }).toEqual({ key, value });
    }
  });

  test("the update commands move both tags in it to mailcow's new one and leave the admin's lines", async () => {
    const dir = makeTempDir("mpi-readme-");
    try {
      writeFileSync(join(dir.path, "docker-compose.yml"), "services:\n  postfix-mailcow:\n    image: ghcr.io/mailcow/postfix:3.10.99-7\n");
      writeFileSync(join(dir.path, "docker-compose.override.yml"), merged);
      // The tag edit of the catch-up block (its `new=` and `sed` lines; the rest needs Docker).
      const catchUp = adaptStep(readmeStep("update-catch-up", README), { mailcowDir: dir.path, parentDir: dir.path, repositoryUrl: "" });
      const tagEdit = catchUp.split("\n").filter((line) => /^(cd |new=|sed )/.test(line));
      expect(tagEdit.length).toBe(3);
      const proc = Bun.spawn(["bash", "-euo", "pipefail", "-c", tagEdit.join("\n")], { cwd: dir.path, stdout: "pipe", stderr: "pipe" });
      expect({ exitCode: await proc.exited, stderr: await new Response(proc.stderr).text() }).toEqual({ exitCode: 0, stderr: "" });
      const edited = readFileSync(join(dir.path, "docker-compose.override.yml"), "utf8");
      const service = postfixService(edited);
      expect(service.image).toBe("local/mailcow-postfix-init:3.10.99-7");
      expect((service.build as { args: Record<string, string> }).args.MAILCOW_POSTFIX_IMAGE).toBe("ghcr.io/mailcow/postfix:3.10.99-7");
      const tagLine = /ghcr\.io\/mailcow\/postfix:|local\/mailcow-postfix-init:/;
      expect(edited.split("\n").filter((line) => !tagLine.test(line))).toEqual(merged.split("\n").filter((line) => !tagLine.test(line)));
    } finally {
      dir.cleanup();
    }
  });
});
