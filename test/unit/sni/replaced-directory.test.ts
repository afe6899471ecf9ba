import { afterEach, expect, test } from "bun:test";
import { renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileIdentity } from "../../../src/file-identity.ts";
import { planSniMapOnAllCores } from "../../../src/sni/index.ts";
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
