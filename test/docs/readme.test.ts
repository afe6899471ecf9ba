import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "../support/docker-images.ts";
import { readmeStep, readmeStepNames, readmeTable } from "../support/readme-steps.ts";

// The README's copy-paste blocks, checked without Docker: the container suite runs the shell
// blocks for real (slow); here every block it asks for must exist, every marked shell block
// must be run by it, and the merged-override example must be valid YAML holding the override
// this repository ships.

const README = readFileSync(join(REPO, "README.md"), "utf8");
const CONTAINER_SUITE = readFileSync(join(REPO, "test", "integration", "container.test.ts"), "utf8");
const SHIPPED_OVERRIDE = readFileSync(join(REPO, "docker", "docker-compose.override.yml"), "utf8");
/** The README blocks that are YAML, checked by this file instead of run by the container suite. */
const YAML_BLOCKS = ["merged-override"];
/** Blocks that repeat a row of the life table (which the container suite runs): checked equal here. */
const ROW_BLOCKS: Record<string, string> = { "hook-install": "install", "hook-run": "back to ours", "back-to-stock": "back to stock" };

type Service = Record<string, unknown>;
const service = (yaml: string, name: string): Service => (Bun.YAML.parse(yaml) as { services: Record<string, Service> }).services[name]!;

/** The names the container suite passes to its README `step(...)` helper. */
function containerSuiteSteps(): string[] {
  return [...new Set([...CONTAINER_SUITE.matchAll(/\bstep\("([a-z0-9-]+)"/g)].map((match) => match[1]!))];
}

/** The life-table rows the container suite runs through its `row(...)` helper. */
function containerSuiteRows(): string[] {
  return [...new Set([...CONTAINER_SUITE.matchAll(/\brow\("([a-z ]+)"\)/g)].map((match) => match[1]!))];
}

describe("README suite blocks", () => {
  test("the container suite runs README blocks (the name pattern still finds them)", () => {
    expect(containerSuiteSteps()).toEqual(expect.arrayContaining(["clone", "override", "did-it-work", "allow-pull"]));
  });

  test("every block the container suite runs is a shell block right after its marker", () => {
    for (const name of containerSuiteSteps()) {
      expect({ name, empty: readmeStep(name, README).trim() === "" }).toEqual({ name, empty: false });
    }
  });

  test("every marked block is run by the container suite or checked here", () => {
    const markers = readmeStepNames(README);
    expect(new Set(markers).size).toBe(markers.length);
    const checkedHere = [...YAML_BLOCKS, ...Object.keys(ROW_BLOCKS)];
    expect(markers.filter((name) => !checkedHere.includes(name)).sort()).toEqual(
      containerSuiteSteps()
        .filter((name) => !checkedHere.includes(name))
        .sort(),
    );
  });

  test("the life table: every row is run by the container suite, in the table's order", () => {
    const rows = readmeTable("life", README).map((entry) => entry.step);
    expect(rows).toEqual(["install", "check", "mailcow update", "unknown base", "back to ours", "remove the hook", "back to stock"]);
    expect(containerSuiteRows()).toEqual(rows);
  });

  test("a block that repeats a table row is exactly that row's command, in the mailcow directory", () => {
    const rows = readmeTable("life", README);
    for (const [block, step] of Object.entries(ROW_BLOCKS)) {
      const command = rows.find((entry) => entry.step === step)?.command;
      expect({ block, script: readmeStep(block, README) }).toEqual({ block, script: `cd /opt/mailcow-dockerized\n${command}` });
    }
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

  test("its postfix-mailcow and acme-mailcow hold every key and list entry of the shipped override, with the same values", () => {
    for (const name of ["postfix-mailcow", "acme-mailcow"]) {
      const shipped = service(SHIPPED_OVERRIDE, name);
      const example = service(merged, name) ?? {};
      expect(Object.keys(shipped).length).toBeGreaterThan(0);
      for (const [key, value] of Object.entries(shipped)) {
        if (Array.isArray(value))
          expect({ name, key, entries: example[key] }).toEqual({ name, key, entries: expect.arrayContaining(value) });
        else expect({ name, key, value: example[key] }).toEqual({ name, key, value });
      }
    }
  });
});
