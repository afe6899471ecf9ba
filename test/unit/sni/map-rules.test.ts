import { expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { planSniMapFromTree } from "../../../src/sni/index.ts";
import { makeCertificateDirectory } from "../../support/certs.ts";
import { mailTrees, tempDirs } from "../../support/fixture.ts";
import { chain } from "../../support/pem-corpus.ts";

// docs/map-rules.md's promises on crafted trees, through the engine's public entry
// (planSniMapFromTree: discover -> judge -> plan): what gets mapped, and what an admin reads.

const mailTree = mailTrees("mpi-map-rules-");
const tempDir = tempDirs("mpi-map-rules-chain-");
const HOSTNAME = "mail.example.test";

interface Files {
  key: Buffer;
  cert: Buffer;
}

/** A tree with one certificate directory whose files `rewrite` may replace; the plan for it. */
function planFor(domains: string[], rewrite: (files: Files) => Partial<Files> & { domains?: string } = () => ({})) {
  const { sslDir } = mailTree({ defaultNames: [HOSTNAME] });
  const made = makeCertificateDirectory(sslDir, "dir.example.test", domains);
  const changed = rewrite({ key: readFileSync(made.keyFile), cert: readFileSync(made.certFile) });
  if (changed.key) writeFileSync(made.keyFile, changed.key);
  if (changed.cert) writeFileSync(made.certFile, changed.cert);
  if (changed.domains !== undefined) writeFileSync(join(made.dir, "domains"), changed.domains);
  Bun.sleepSync(60); // older than the judge's settle time: judged at once
  const result = planSniMapFromTree({ sslDir, hostname: HOSTNAME });
  const mapped = result.entries.filter((entry) => entry.sourceDir === made.dir).map((entry) => entry.name);
  const about = result.problems.filter((problem) => problem.source === made.dir || problem.message.startsWith(made.dir));
  return { mapped, about, made };
}

/** The DER inside a one-block PEM file, and a PEM block of `label` around some DER. */
const derOf = (block: Buffer) =>
  Buffer.from(
    block
      .toString()
      .replace(/-----[^-]+-----/g, "")
      .replace(/\s/g, ""),
    "base64",
  );
const pem = (label: string, der: Buffer) =>
  Buffer.from(`-----BEGIN ${label}-----\n${der.toString("base64").replace(/.{64}/g, "$&\n").replace(/\n$/, "")}\n-----END ${label}-----\n`);

test("the value is read as a C string: with a NUL byte in both files, it ends at the first one", () => {
  // Read up to the LAST NUL, the certificate after the key file's junk would load; Postfix stops
  // at the first, in the key file, and finds no certificate.
  const nul = Buffer.from("\0 junk after a NUL byte\n");
  const { mapped, about } = planFor(["nul.example.test"], ({ key, cert }) => ({
    key: Buffer.concat([key, nul]),
    cert: Buffer.concat([cert, nul]),
  }));
  expect(mapped).toEqual([]);
  expect(about.map((problem) => problem.severity)).toEqual(["error"]);
  expect(about[0]!.message).toContain("no certificate follows the private key");
  // Control: the same NUL in the certificate file only cuts nothing Postfix needs.
  expect(planFor(["nul.example.test"], ({ cert }) => ({ cert: Buffer.concat([cert, nul]) })).mapped).toEqual(["nul.example.test"]);
});

test("bytes after a certificate's DER inside its PEM block are an error: not mapped", () => {
  const { mapped, about } = planFor(["extra.example.test"], ({ cert }) => ({
    cert: pem("CERTIFICATE", Buffer.concat([derOf(cert), Buffer.from([0x05, 0x00])])),
  }));
  expect(mapped).toEqual([]);
  expect(about.map((problem) => problem.severity)).toEqual(["error"]);
  expect(about[0]!.message).toContain("extra bytes after its end");
  // Control: the same certificate re-framed without the extra bytes is mapped.
  expect(planFor(["extra.example.test"], ({ cert }) => ({ cert: pem("CERTIFICATE", derOf(cert)) })).mapped).toEqual(["extra.example.test"]);
});

test("chain order is checked along the whole chain: leaf, intermediate, root is in order; leaf, root, intermediate warns", () => {
  const tree = chain(tempDir());
  const withChain = (...issuers: Buffer[]) =>
    planFor(["leaf.corpus.test"], () => ({ key: tree.leaf.key, cert: Buffer.concat([tree.leaf.cert, ...issuers]) }));
  const ordered = withChain(tree.intermediate, tree.root);
  expect(ordered.mapped).toEqual(["leaf.corpus.test"]);
  expect(ordered.about).toEqual([]);
  const swapped = withChain(tree.root, tree.intermediate);
  expect(swapped.mapped).toEqual(["leaf.corpus.test"]); // a warning, not an error: mapped anyway
  expect(swapped.about.map((problem) => [problem.severity, problem.code])).toEqual([["warning", "chain-order"]]);
  expect(swapped.about[0]!.message).toContain("certificate 2 in");
});

test("an internationalized wildcard in a domains file becomes Postfix's .parent form in A-labels", () => {
  const { mapped, about } = planFor(["dir.example.test"], () => ({ domains: "dir.example.test *.Bücher.example" }));
  expect(mapped).toContain(".xn--bcher-kva.example");
  expect(mapped).not.toContain("xn--bcher-kva.example");
  expect(about.filter((problem) => problem.code !== "name-not-covered" && problem.severity === "error")).toEqual([]);
});

test("an IPv4 address written as a wildcard (*.192.0.2.1) is not mapped, with a warning naming it", () => {
  const { mapped, about } = planFor(["dir.example.test"], () => ({ domains: "dir.example.test *.192.0.2.1 192.0.2.2" }));
  expect(mapped.filter((name) => /\d+\.\d+\.\d+\.\d+/.test(name))).toEqual([]);
  const warning = about.find((problem) => problem.message.includes("192.0.2.1"));
  expect(warning?.severity).toBe("warning");
  expect(warning!.message).toContain('"*.192.0.2.1"');
});
