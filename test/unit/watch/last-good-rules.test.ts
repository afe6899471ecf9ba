import { expect, test } from "bun:test";
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { planSniMapFromTree } from "../../../src/sni/index.ts";
import { retainLastGood, type LastGood } from "../../../src/watch/last-good.ts";
import { makeCertificate, makeCertificateDirectory } from "../../support/certs.ts";
import { mailTrees } from "../../support/fixture.ts";

// docs/watch.md, "A broken renewal never takes a working certificate away", at its edges: which
// names a kept pair keeps (not one another directory took), in the engine's order, until the
// earliest expiry of the pairs in its value, and the one line that says so. Real trees judged
// by the engine; only the clock is chosen. Found by mutation testing (npm run mutation).

const mailTree = mailTrees("mpi-last-good-rules-");
const HOSTNAME = "mail.example.test";

function setUp(domains: string[]) {
  const tree = mailTree({ defaultNames: [HOSTNAME, "shared.example.test"] });
  const held = makeCertificateDirectory(tree.sslDir, "held.example.test", domains);
  makeCertificateDirectory(tree.sslDir, "a-first.example.test", ["a-first.example.test"]);
  makeCertificateDirectory(tree.sslDir, "z-last.example.test", ["z-last.example.test"]);
  const stranger = makeCertificate(join(tree.root, "stranger"), { names: ["stranger.test"] });
  const plan = (now: Date) => planSniMapFromTree({ sslDir: tree.sslDir, hostname: HOSTNAME, now });
  return { ...tree, held, stranger, plan, breakIt: () => copyFileSync(stranger.keyFile, held.keyFile) };
}

const names = (entries: { name: string; sourceDir: string }[]) =>
  entries.map((entry) => `${entry.name} <- ${entry.sourceDir.replace(/.*\//, "")}`);

test("a held pair's names stay in the engine's order, its one line names up to five and counts the rest", () => {
  const domains = ["held.example.test", ...["a", "b", "c", "d", "e", "f", "g"].map((label) => `${label}.held.example.test`)];
  const { held, plan, breakIt } = setUp(domains);
  const now = new Date();
  const before = retainLastGood(new Map(), plan(now), now);
  breakIt();
  const kept = retainLastGood(before.next, plan(now), now);
  expect(names(kept.entries)).toEqual(names(before.entries));
  const lines = kept.problems.filter((problem) => problem.source === held.dir);
  expect(lines.map((problem) => [problem.severity, problem.code])).toEqual([["error", "kept-last-good"]]);
  expect(lines[0]!.message).toStartWith(
    `${held.dir}: Postfix would not load this pair: the private key in ${held.keyFile} does not match the certificate`,
  );
  expect(lines[0]!.message).toContain(
    "stays mapped for a.held.example.test, b.held.example.test, c.held.example.test, d.held.example.test, e.held.example.test and 3 more until it expires (",
  );
  expect(lines[0]!.message).toEndWith(") or the files load again. Fix or renew the certificate there");
});

test("five names are listed without a count", () => {
  const { held, plan, breakIt } = setUp([
    "held.example.test",
    "a.held.example.test",
    "b.held.example.test",
    "c.held.example.test",
    "d.held.example.test",
  ]);
  const now = new Date();
  const before = retainLastGood(new Map(), plan(now), now);
  breakIt();
  const kept = retainLastGood(before.next, plan(now), now);
  expect(kept.problems.find((problem) => problem.source === held.dir)!.message).toContain(
    "stays mapped for a.held.example.test, b.held.example.test, c.held.example.test, d.held.example.test, held.example.test until",
  );
});

test("a name the default certificate also carries stays with the held pair; one another directory took goes there", () => {
  const { sslDir, held, plan, breakIt } = setUp(["held.example.test", "shared.example.test", "moved.example.test"]);
  const now = new Date();
  const before = retainLastGood(new Map(), plan(now), now);
  breakIt();
  makeCertificateDirectory(sslDir, "b-taker.example.test", ["moved.example.test"]);
  const kept = retainLastGood(before.next, plan(now), now);
  const owner = (name: string) => kept.entries.filter((entry) => entry.name === name).map((entry) => entry.sourceDir);
  expect(owner("shared.example.test")).toEqual([held.dir]);
  expect(owner("held.example.test")).toEqual([held.dir]);
  expect(owner("moved.example.test")).toEqual([join(sslDir, "b-taker.example.test")]);
  expect(kept.problems.find((problem) => problem.source === held.dir)!.message).toContain(
    "stays mapped for held.example.test, shared.example.test until",
  );
});

test("kept until the earliest expiry of the pairs in its value (main and ECDSA), not a moment longer", () => {
  const { held, stranger, plan } = setUp(["held.example.test"]);
  // An RSA main pair for a year and an ECDSA pair for 10 days: both in the value.
  const main = makeCertificate(held.dir, { names: ["held.example.test"], keyType: "rsa", days: 365 });
  makeCertificate(held.dir, { names: ["held.example.test"], certName: "ecdsa-cert.pem", keyName: "ecdsa-key.pem", days: 10 });
  const now = new Date();
  const before = retainLastGood(new Map(), plan(now), now);
  expect(before.entries.find((entry) => entry.name === "held.example.test")!.files).toHaveLength(4);
  copyFileSync(stranger.keyFile, main.keyFile);
  const kept = retainLastGood(before.next, plan(now), now);
  const ecdsaExpiry = kept.nextExpiry!;
  expect(ecdsaExpiry - now.getTime()).toBeLessThan(11 * 86_400_000); // the ECDSA pair's 10 days, not the RSA pair's year
  expect(kept.held).toEqual([held.dir]);
  const atExpiry = new Date(ecdsaExpiry);
  const expired = retainLastGood(kept.next, plan(atExpiry), atExpiry);
  expect(expired.held).toEqual([]);
  expect(expired.entries.some((entry) => entry.name === "held.example.test")).toBe(false);
  expect(
    expired.problems
      .filter((problem) => problem.source === held.dir)
      .map((problem) => problem.message.endsWith(`(the last pair that loaded expired on ${atExpiry.toISOString()})`)),
  ).toContain(true);
  const justBefore = new Date(ecdsaExpiry - 1);
  expect(retainLastGood(kept.next, plan(justBefore), justBefore).held).toEqual([held.dir]);
});

test("nothing kept, nothing held: a source never seen loading is not invented", () => {
  const { plan, breakIt } = setUp(["held.example.test"]);
  breakIt();
  const now = new Date();
  const none: LastGood = new Map();
  const result = retainLastGood(none, plan(now), now);
  expect(result.held).toEqual([]);
  expect(result.nextExpiry).toBeUndefined();
  expect(result.entries.some((entry) => entry.name === "held.example.test")).toBe(false);
});

test("the held source's own line replaces its own error only; other sources' lines stay", () => {
  const { sslDir, held, plan, breakIt } = setUp(["held.example.test"]);
  makeCertificateDirectory(sslDir, "a-soon.example.test", ["a-soon.example.test"], { days: 3 }); // a warning listed first
  const now = new Date();
  const before = retainLastGood(new Map(), plan(now), now);
  breakIt();
  const broken = plan(now);
  const kept = retainLastGood(before.next, broken, now);
  expect(kept.problems.map((problem) => [problem.source.replace(/.*\//, ""), problem.code])).toEqual(
    broken.problems.map((problem) => [problem.source.replace(/.*\//, ""), problem.source === held.dir ? "kept-last-good" : problem.code]),
  );
  expect(kept.problems.filter((problem) => problem.code === "expires-soon")).toHaveLength(1);
});

test("a broken source whose names all went to another directory holds nothing", () => {
  const { sslDir, held, plan, breakIt } = setUp(["held.example.test"]);
  const now = new Date();
  const before = retainLastGood(new Map(), plan(now), now);
  breakIt();
  makeCertificateDirectory(sslDir, "b-taker.example.test", ["held.example.test"]);
  const kept = retainLastGood(before.next, plan(now), now);
  expect(kept.held).toEqual([]);
  expect(kept.problems.some((problem) => problem.source === held.dir && problem.code === "kept-last-good")).toBe(false);
  expect(kept.entries.filter((entry) => entry.name === "held.example.test").map((entry) => entry.sourceDir)).toEqual([
    join(sslDir, "b-taker.example.test"),
  ]);
});

test("a held name the default maps first in its list replaces that entry, never doubles it", () => {
  const tree = mailTree({ defaultNames: [HOSTNAME, "alpha.example.test"] });
  const held = makeCertificateDirectory(tree.sslDir, "held.example.test", ["alpha.example.test"]);
  const stranger = makeCertificate(join(tree.root, "stranger"), { names: ["stranger.test"] });
  const plan = (now: Date) => planSniMapFromTree({ sslDir: tree.sslDir, hostname: HOSTNAME, now });
  const now = new Date();
  const before = retainLastGood(new Map(), plan(now), now);
  copyFileSync(stranger.keyFile, held.keyFile);
  const broken = plan(now);
  expect(broken.entries[0]!.name).toBe("alpha.example.test"); // the default's, first
  const kept = retainLastGood(before.next, broken, now);
  expect(kept.entries.filter((entry) => entry.name === "alpha.example.test").map((entry) => entry.sourceDir)).toEqual([held.dir]);
});
