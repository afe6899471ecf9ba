import { expect, test } from "bun:test";
import { mkdirSync, symlinkSync } from "node:fs";
import { collectCertificateSources } from "../../../src/sni/discover.ts";
import { mailTrees } from "../../support/fixture.ts";

const mailTree = mailTrees("mpi-discover-");

test("a directory whose name is not valid UTF-8 is one escaped error line, never silence", () => {
  const { sslDir } = mailTree({ certificateDirs: { "example.org": ["example.org"] } });
  mkdirSync(Buffer.concat([Buffer.from(`${sslDir}/b`), Buffer.from([0xff]), Buffer.from("d.example")]));
  const discovery = collectCertificateSources(sslDir);
  expect(discovery.sources.map((source) => source.kind)).toEqual(["default", "directory"]);
  expect(discovery.problems.map((problem) => [problem.code, problem.severity])).toEqual([["name-not-utf8", "error"]]);
  expect(discovery.problems[0]!.message).toStartWith(`${sslDir}/b\\xffd.example: the directory's name is not valid UTF-8`);
});

test("a link whose name is not valid UTF-8 is reported when it leads to a directory (links to directories are followed)", () => {
  const { sslDir } = mailTree({ certificateDirs: { "example.org": ["example.org"] } });
  const named = (suffix: string) => Buffer.concat([Buffer.from(`${sslDir}/`), Buffer.from([0xff]), Buffer.from(suffix)]);
  symlinkSync(`${sslDir}/example.org`, named("linked"));
  symlinkSync(`${sslDir}/nowhere`, named("dangling"));
  const discovery = collectCertificateSources(sslDir);
  expect(discovery.problems.map((problem) => problem.source)).toEqual([`${sslDir}/\\xfflinked`]);
});
