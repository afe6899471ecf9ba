import { createHash } from "node:crypto";
import { expect } from "bun:test";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Validation } from "../../src/sni/validate-parallel.ts";
import { makeCertificate } from "./certs.ts";
import type { MailTree } from "./fixture.ts";

// Trees of many certificate directories for the parallel validation's tests: three real pairs
// copied around (making a pair per directory would take minutes), some broken on purpose.

/** DIRECTORIES certificate directories in TREE: mostly good pairs, some broken (mismatched key, no PEM). */
export function fillPoolTree(tree: MailTree, directories: number): MailTree {
  const pairs = [0, 1, 2].map((index) => makeCertificate(join(tree.root, "pool", String(index)), { names: [`pool${index}.example.test`] }));
  for (let index = 0; index < directories; index++) {
    const dir = join(tree.sslDir, `d${String(index).padStart(3, "0")}.example.test`);
    mkdirSync(dir);
    const pair = pairs[index % pairs.length]!;
    copyFileSync(pair.certFile, join(dir, "cert.pem"));
    if (index % 37 === 5) copyFileSync(pairs[(index + 1) % pairs.length]!.keyFile, join(dir, "key.pem"));
    else if (index % 41 === 7) writeFileSync(join(dir, "key.pem"), "not a key\n");
    else copyFileSync(pair.keyFile, join(dir, "key.pem"));
    writeFileSync(join(dir, "domains"), `d${index}.example.test mail.d${index}.example.test`);
  }
  return tree;
}

/**
 * Results with each value as its digest and length (a value read this run also carries its
 * bytes, which must have that digest), so that views and buffers compare by content.
 */
export function comparable(results: readonly Validation[]) {
  return results.map(({ validated, problems }) => {
    const bytes = validated.value?.bytes;
    if (bytes) expect(`sha256:${createHash("sha256").update(bytes).digest("hex")}`).toBe(validated.value!.digest);
    return { ...validated, value: validated.value && { digest: validated.value.digest, length: validated.value.length }, problems };
  });
}

/** For each result, whether its value came with the bytes read this run (a recalled one has none). */
export function bytesRead(results: readonly Validation[]): boolean[] {
  return results.map(({ validated }) => validated.value?.bytes !== undefined);
}
