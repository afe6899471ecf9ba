import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";

// Two lockfiles, one set of packages: `npm ci` (CI, development) installs from
// package-lock.json, Dockerfile.postfix's build stage from bun.lock (`bun install
// --frozen-lockfile --production`, which refuses a bun.lock that does not match package.json).
// The binary a user runs must come from the very packages the tests ran with: every package
// (name, version, integrity) is in both, whatever each tool's layout of node_modules.

const REPO = resolve(import.meta.dir, "../..");
const read = (name: string) => readFileSync(join(REPO, name), "utf8");

function bunPackages(): string[] {
  // bun.lock is JSON with trailing commas.
  const lock = JSON.parse(read("bun.lock").replace(/,(\s*[}\]])/g, "$1")) as {
    packages: Record<string, [string, string, unknown, string]>;
  };
  return Object.values(lock.packages).map(([id, , , integrity]) => `${id} ${integrity}`);
}

function npmPackages(): string[] {
  const lock = JSON.parse(read("package-lock.json")) as { packages: Record<string, { version?: string; integrity?: string }> };
  return Object.entries(lock.packages)
    .filter(([path]) => path !== "")
    .map(
      ([path, entry]) => `${path.slice(path.lastIndexOf("node_modules/") + "node_modules/".length)}@${entry.version} ${entry.integrity}`,
    );
}

test("bun.lock and package-lock.json hold the same packages, versions and integrity hashes", () => {
  const npm = [...new Set(npmPackages())].sort();
  expect(npm.length).toBeGreaterThan(20);
  expect([...new Set(bunPackages())].sort()).toEqual(npm);
});

test("both lockfiles were made from package.json as it is", () => {
  const manifest = JSON.parse(read("package.json")) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
  const bunRoot = JSON.parse(read("bun.lock").replace(/,(\s*[}\]])/g, "$1")).workspaces[""];
  const npmRoot = JSON.parse(read("package-lock.json")).packages[""];
  for (const field of ["dependencies", "devDependencies"] as const) {
    expect(bunRoot[field]).toEqual(manifest[field]);
    expect(npmRoot[field]).toEqual(manifest[field]);
  }
});
