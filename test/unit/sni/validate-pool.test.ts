import { afterAll, expect, test } from "bun:test";
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { validatePair } from "../../../src/sni/validate.ts";
import { validatePairs } from "../../../src/sni/validate-pool.ts";
import type { KeyPairFiles } from "../../../src/sni/types.ts";
import { makeCertificate } from "../../support/certs.ts";
import { makeTempDir } from "../../support/tmp.ts";

const temp = makeTempDir("mpi-pool-");
afterAll(temp.cleanup);

/** 400 pairs (enough to use workers): good ones and mismatched ones, interleaved. */
function manyPairs(): KeyPairFiles[] {
  const good = makeCertificate(join(temp.path, "good"), { names: ["good.example"] });
  const other = makeCertificate(join(temp.path, "other"), { names: ["other.example"] });
  const mismatched = join(temp.path, "mismatched-key.pem");
  copyFileSync(other.keyFile, mismatched);
  return Array.from({ length: 400 }, (_, index) =>
    index % 3 === 0 ? { keyFile: mismatched, certFile: good.certFile } : { keyFile: good.keyFile, certFile: good.certFile },
  );
}

test("the parallel batch gives exactly the reports of one-by-one validation, in order", async () => {
  const pairs = manyPairs();
  const parallel = await validatePairs(pairs);
  expect(parallel).toEqual(pairs.map((pair) => validatePair(pair)));
  expect(parallel.filter((report) => report.failure?.code === "key-mismatch")).toHaveLength(134);
});

test("a worker that cannot start changes nothing: its share is validated here", async () => {
  const pairs = manyPairs();
  const reports = await validatePairs(pairs, new URL("./no-such-worker.ts", import.meta.url).href);
  expect(reports).toEqual(pairs.map((pair) => validatePair(pair)));
});
