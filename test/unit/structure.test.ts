import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { importsOf } from "../support/imports.ts";

// The shape of src/ that CONTRIBUTING promises: no import cycle, no file over MAX_LINES, and
// every module either has its own test file (test/unit/ at the same relative path) or a row in
// CONTRIBUTING's "Modules tested through others" table naming the tests that cover it.

const REPO = resolve(import.meta.dir, "../..");
const SRC = join(REPO, "src");
/** Files around 200 lines; past this one is split, whatever the formatter made of it. */
const MAX_LINES = 300;

function sourceFiles(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith(".ts") ? [relative(REPO, path)] : [];
  });
}

/** Every cycle of the graph, each once, as a path that starts and ends at the same node. */
export function findCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (node: string) => {
    state.set(node, "open");
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === "open") cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, "done");
  };
  for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node);
  return cycles;
}

/** CONTRIBUTING's table rows: `src/...` -> the test files named in its second column. */
function testedThrough(): Map<string, string[]> {
  const text = readFileSync(join(REPO, "CONTRIBUTING.md"), "utf8");
  const rows = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    const cells = line.split("|").map((cell) => cell.trim());
    const module = /^`(src\/[^`]+\.ts)`$/.exec(cells[1] ?? "")?.[1];
    if (module)
      rows.set(
        module,
        [...(cells[2] ?? "").matchAll(/`(test\/[^`]+)`/g)].map((match) => match[1]!),
      );
  }
  return rows;
}

const mirrorOf = (module: string) => module.replace(/^src\//, "test/unit/").replace(/\.ts$/, ".test.ts");

describe("the structure of src/", () => {
  const files = sourceFiles();
  const graph = new Map(files.map((file) => [file, importsOf(file, readFileSync(join(REPO, file), "utf8"))]));

  test("the cycle finder finds a cycle (so the next test means something)", () => {
    const graph = new Map([
      ["a", ["b"]],
      ["b", ["c"]],
      ["c", ["a", "d"]],
      ["d", []],
    ]);
    expect(findCycles(graph)).toEqual([["a", "b", "c", "a"]]);
    expect(
      importsOf(
        "src/x/y.ts",
        'import { a } from "../a.ts";\nimport type { B } from "./b.ts";\nexport { c } from "./c.ts";\nawait import("../d.ts");\n',
      ),
    ).toEqual(["src/a.ts", "src/x/b.ts", "src/x/c.ts", "src/d.ts"]);
  });

  test("no import cycle", () => {
    expect(files.length).toBeGreaterThan(50);
    expect(graph.get("src/cli.ts")).toContain("src/commands/start.ts");
    expect(findCycles(graph)).toEqual([]);
  });

  test(`no file over ${MAX_LINES} lines`, () => {
    const long = files
      .map((file) => `${file}: ${readFileSync(join(REPO, file), "utf8").split("\n").length - 1} lines`)
      .filter((line) => Number(line.split(": ")[1]!.split(" ")[0]) > MAX_LINES);
    expect(long).toEqual([]);
  });

  test("every module has its own test file or a row in CONTRIBUTING naming the tests that cover it", () => {
    const rows = testedThrough();
    expect(rows.size).toBeGreaterThan(10);
    const untested = files.filter((file) => !existsSync(join(REPO, mirrorOf(file))) && !rows.has(file));
    expect(untested.map((file) => `${file}: add ${mirrorOf(file)} or a row to CONTRIBUTING.md's "Modules tested through others"`)).toEqual(
      [],
    );
    const stale = [...rows].flatMap(([module, tests]) => [
      ...(files.includes(module) ? [] : [`${module}: no such module`]),
      ...(tests.length === 0 ? [`${module}: no test named`] : []),
      ...tests.filter((test) => !existsSync(join(REPO, test))).map((test) => `${module}: ${test} does not exist`),
    ]);
    expect(stale).toEqual([]);
  });
});
