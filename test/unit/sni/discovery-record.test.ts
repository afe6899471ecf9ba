import { expect, test } from "bun:test";
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { collectCertificateSources } from "../../../src/sni/discover.ts";
import { recordDiscovery, recordedDiscovery } from "../../../src/sni/discovery-record.ts";
import { makeCertificate, makeCertificateDirectory } from "../../support/certs.ts";
import { tempDirs } from "../../support/fixture.ts";

// The run record keeps discovery's result compactly (discovery-record.ts): what it gives back
// must be exactly what discovery found, for every shape of source.

const tempDir = tempDirs("mpi-discovery-record-");

test("a recorded discovery is the discovery: default pair with ecdsa, directories with and without, a domains link outside, problems and notes", () => {
  const root = tempDir();
  const sslDir = join(root, "ssl");
  makeCertificate(sslDir, { names: ["mail.example.test"] });
  makeCertificate(sslDir, { names: ["mail.example.test"], certName: "ecdsa-cert.pem", keyName: "ecdsa-key.pem" });
  makeCertificateDirectory(sslDir, "a.example.test", ["a.example.test"]);
  const withEcdsa = makeCertificateDirectory(sslDir, "b.example.test", ["b.example.test"]);
  makeCertificate(withEcdsa.dir, { names: ["b.example.test"], certName: "ecdsa-cert.pem", keyName: "ecdsa-key.pem" });
  const linked = makeCertificateDirectory(sslDir, "c.example.test", ["c.example.test"]);
  writeFileSync(join(root, "outside-domains"), "c.example.test\n");
  rmSync(join(linked.dir, "domains"));
  symlinkSync(join(root, "outside-domains"), join(linked.dir, "domains"));
  mkdirSync(join(sslDir, ".old"));
  writeFileSync(join(sslDir, ".old", "cert.pem"), "x");
  mkdirSync(join(sslDir, "broken.example.test"));
  writeFileSync(join(sslDir, "broken.example.test", "cert.pem"), "x");
  writeFileSync(join(sslDir, "broken.example.test", "key.pem"), "x");
  mkdirSync(join(sslDir, "broken.example.test", "domains"));

  const discovery = collectCertificateSources(sslDir);
  expect(discovery.sources.map((source) => [source.dir, source.ecdsa !== undefined, source.domainsOutside === true])).toEqual([
    [sslDir, true, false],
    [join(sslDir, "a.example.test"), false, false],
    [join(sslDir, "b.example.test"), true, false],
    [join(sslDir, "c.example.test"), false, true],
  ]);
  expect(discovery.problems.length).toBe(1);
  expect(discovery.notes.length).toBe(1);
  const kept = JSON.parse(JSON.stringify(recordDiscovery(discovery)));
  expect(recordedDiscovery(kept, sslDir, discovery.observed)).toEqual(discovery);
});
