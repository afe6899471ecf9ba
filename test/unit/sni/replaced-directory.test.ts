import { afterEach, expect, test } from "bun:test";
import { renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileIdentity } from "../../../src/file-identity.ts";
import type { PairCache } from "../../../src/sni/cache.ts";
import { collectCertificateSources, entryIdentity } from "../../../src/sni/discover.ts";
import { planSniMapFromTree, planSniMapOnAllCores } from "../../../src/sni/index.ts";
import { makeCertificate, makeCertificateDirectory } from "../../support/certs.ts";
import { makeTempDir } from "../../support/tmp.ts";

// A renewal that replaces a certificate directory with two mv's (the new one staged beside it
// as NAME.new, the old one moved to NAME.old and removed) can take a directory away between
// the listing of the SSL dir and the read of its files. The run lists the SSL dir again and
// maps the directory that replaced it: the name is mapped from the new pair in this run, not
// left out until the next one.

const NAME = "swap.example.test";
const temps: { cleanup: () => void }[] = [];
afterEach(() => {
  for (const temp of temps.splice(0)) temp.cleanup();
});

/** An SSL dir listed mid-swap: the old directory already moved to NAME.old, the new one staged as NAME.new. */
function midSwapTree() {
  const temp = makeTempDir("mpi-swap-");
  temps.push(temp);
  const sslDir = join(temp.path, "ssl");
  makeCertificate(sslDir, { names: ["mail.example.test"] });
  const old = makeCertificateDirectory(sslDir, `${NAME}.old`, [NAME]);
  const staged = makeCertificateDirectory(sslDir, `${NAME}.new`, [NAME]);
  return { sslDir, old, staged, live: join(sslDir, NAME) };
}

/**
 * validate.ts's identity lookup that, when the run first looks at the old directory's files,
 * finishes the writer's swap: NAME.new becomes NAME, NAME.old is removed. From the run's view
 * both directories it listed vanish while it reads them.
 */
function finishingSwapOnFirstLook(tree: ReturnType<typeof midSwapTree>) {
  let swapped = false;
  return (path: string) => {
    if (!swapped && (path.startsWith(`${tree.old.dir}/`) || path.startsWith(`${tree.staged.dir}/`))) {
      swapped = true;
      renameSync(tree.staged.dir, tree.live);
      rmSync(tree.old.dir, { recursive: true });
    }
    return fileIdentity(path);
  };
}

test("a directory replaced with two mv's while the run reads it is mapped from its replacement in the same run", async () => {
  const tree = midSwapTree();
  const identity = finishingSwapOnFirstLook(tree);
  const result = await planSniMapOnAllCores({ sslDir: tree.sslDir, hostname: "mail.example.test", identity });
  const entry = result.entries.find((candidate) => candidate.name === NAME);
  expect(entry?.sourceDir).toBe(tree.live);
  // Nothing is said about the directories that were only there for the swap's moment.
  expect(result.problems.map((problem) => problem.message)).toEqual([]);
});

test("the watcher's plan (one thread, its cache of judgements) maps the replacement in the same run too", () => {
  const tree = midSwapTree();
  // The swap finishes when the run asks its cache about the first source it reads.
  const finishSwap = finishingSwapOnFirstLook(tree);
  const cache: PairCache = {
    judge: (_key, judge) => judge(),
    recall: () => {
      finishSwap(`${tree.old.dir}/cert.pem`);
      return undefined;
    },
  };
  const result = planSniMapFromTree({ sslDir: tree.sslDir, hostname: "mail.example.test", cache });
  expect(result.entries.find((candidate) => candidate.name === NAME)?.sourceDir).toBe(tree.live);
  expect(result.problems.map((problem) => problem.message)).toEqual([]);
});

/** entryIdentity, except that DIR looks like another directory each time it is looked at (a writer replacing it over and over). */
function replacedOnEveryLook(dir: string) {
  let looks = 0;
  return (path: string) => (path === dir ? `replaced ${++looks}` : entryIdentity(path));
}

test("a directory replaced on every look through three listings is left out with one warning naming it", () => {
  const tree = midSwapTree();
  const half = join(tree.sslDir, "half.example.test");
  makeCertificate(half, { names: ["half.example.test"] });
  rmSync(join(half, "key.pem")); // no pair in its listing: looked at again only because it was replaced
  const discovery = collectCertificateSources(tree.sslDir, 1, replacedOnEveryLook(half));
  expect(discovery.problems.map((problem) => `${problem.severity} ${problem.code} ${problem.message}`)).toEqual([
    `warning vanished ${half}: the directory was replaced while it was being read, 3 times; not mapped this time, the next start or reload maps it`,
  ]);
  // A directory that holds no pair and stays as it is: skipped without a word, as mailcow does.
  expect(collectCertificateSources(tree.sslDir).problems).toEqual([]);
});

test("a directory whose domains file is gone because the directory was replaced meanwhile: listed again, one warning only in the last listing", () => {
  const tree = midSwapTree();
  rmSync(join(tree.old.dir, "domains"));
  const discovery = collectCertificateSources(tree.sslDir, 1, replacedOnEveryLook(tree.old.dir));
  expect(discovery.problems.map((problem) => problem.source)).toEqual([tree.old.dir]);
  expect(discovery.sources.map((source) => source.dir)).toEqual([tree.sslDir, tree.staged.dir]);
});

test("a directory replaced once while discovery looked at it is looked at again in the next listing, without a warning", () => {
  const tree = midSwapTree();
  rmSync(join(tree.old.dir, "domains")); // unreadable at first: the replacement is still being moved in
  let looks = 0;
  // Another directory at the first two looks (the listing's and the unreadable domains file's), then as it stays.
  const replacedOnce = (path: string) => (path === tree.old.dir && looks < 2 ? `replaced ${++looks}` : entryIdentity(path));
  const discovery = collectCertificateSources(tree.sslDir, 1, replacedOnce);
  expect(discovery.problems).toEqual([]);
  expect(looks).toBe(2);
});
