import { readFileSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";

/** The repository root: files are named relative to it ("src/cli.ts"). */
export const REPO = resolve(import.meta.dir, "../..");

/** Relative imports (static, type-only, re-exports and dynamic) of one file, as repo paths. */
export function importsOf(file: string, text: string): string[] {
  const specifiers = [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^import\s+)"(\.{1,2}\/[^"]+)"/gm)].map((match) => match[1]!);
  return specifiers
    .filter((specifier) => specifier.endsWith(".ts"))
    .map((specifier) => relative(REPO, resolve(REPO, dirname(file), specifier)));
}

/** Every file FILE imports, directly or through others (FILE itself not included unless in a cycle). */
export function importClosure(file: string): Set<string> {
  const seen = new Set<string>();
  const pending = [file];
  while (pending.length > 0) {
    const current = pending.pop()!;
    for (const next of importsOf(current, readFileSync(resolve(REPO, current), "utf8"))) {
      if (!seen.has(next)) {
        seen.add(next);
        pending.push(next);
      }
    }
  }
  return seen;
}
