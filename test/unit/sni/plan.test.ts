import { describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { planSniMapFromTree } from "../../../src/sni/index.ts";
import { makeCertificateDirectory } from "../../support/certs.ts";
import { mailTrees } from "../../support/fixture.ts";

// Which source serves a name several sources claim, and which directories are certificate
// directories at all. "Expired" here is a 30-day certificate judged 60 days on.

const mailTree = mailTrees("mpi-plan-");
const DAY = 24 * 60 * 60 * 1000;
const later = () => new Date(Date.now() + 60 * DAY);
const sourceOf = (result: ReturnType<typeof planSniMapFromTree>, name: string) =>
  result.entries.filter((entry) => entry.name === name).map((entry) => entry.sourceDir);

describe("precedence by usability", () => {
  test("a live example.test/ beats an expired 0ld-example.test/ that sorts first, with one warning saying why", () => {
    const { sslDir } = mailTree({ defaultNames: ["mail.example.test"], defaultCertificate: { days: 400 }, mainCf: null });
    const old = makeCertificateDirectory(sslDir, "0ld-example.test", ["example.test", "old-only.example.test"], { days: 30 });
    const live = makeCertificateDirectory(sslDir, "example.test", ["example.test"], { days: 400 });
    const result = planSniMapFromTree({ sslDir, hostname: "mail.example.test", now: later() });
    expect(sourceOf(result, "example.test")).toEqual([live.dir]);
    expect(sourceOf(result, "old-only.example.test")).toEqual([old.dir]);
    const conflicts = result.problems.filter((problem) => problem.code === "name-conflict");
    expect(conflicts.map((problem) => problem.message)).toEqual([
      `example.test listed by both ${live.dir} and ${old.dir}; mapped to ${live.dir} (valid now and covering the name)`,
    ]);
  });

  test("a certificate covering the name beats one that does not, whatever the order", () => {
    const { sslDir } = mailTree({ defaultNames: ["mail.example.test"], mainCf: null });
    const wrong = makeCertificateDirectory(sslDir, "a-wrong", ["other.example.test"]);
    writeFileSync(join(wrong.dir, "domains"), "shop.example.test");
    const right = makeCertificateDirectory(sslDir, "b-right", ["shop.example.test"]);
    const result = planSniMapFromTree({ sslDir, hostname: "mail.example.test" });
    expect(sourceOf(result, "shop.example.test")).toEqual([right.dir]);
  });

  test("ties: the certificate valid longest, then the first directory in byte order", () => {
    const { sslDir } = mailTree({ defaultNames: ["mail.example.test"], mainCf: null });
    makeCertificateDirectory(sslDir, "a-short", ["both.example.test"], { days: 30 });
    const long = makeCertificateDirectory(sslDir, "b-long", ["both.example.test"], { days: 90 });
    const first = makeCertificateDirectory(sslDir, "c-copy", ["copy.example.test"]);
    const copy = join(sslDir, "d-copy");
    mkdirSync(copy);
    for (const file of ["cert.pem", "key.pem", "domains"]) copyFileSync(join(first.dir, file), join(copy, file));
    const result = planSniMapFromTree({ sslDir, hostname: "mail.example.test" });
    expect(sourceOf(result, "both.example.test")).toEqual([long.dir]);
    expect(sourceOf(result, "copy.example.test")).toEqual([first.dir]);
    expect(result.problems.map((problem) => problem.message)).toContain(
      `copy.example.test listed by both ${first.dir} and ${copy}; mapped to ${first.dir} (first in name order)`,
    );
  });

  test("the default certificate keeps its name from an expired directory, and a live directory still wins over it", () => {
    const { sslDir } = mailTree({
      defaultNames: ["mail.example.test", "example.test", "www.example.test"],
      defaultCertificate: { days: 400 },
      mainCf: null,
    });
    const expired = makeCertificateDirectory(sslDir, "example.test", ["example.test"], { days: 30 });
    const live = makeCertificateDirectory(sslDir, "www.example.test", ["www.example.test"], { days: 400 });
    const result = planSniMapFromTree({ sslDir, hostname: "mail.example.test", now: later() });
    expect(sourceOf(result, "example.test")).toEqual([sslDir]);
    expect(sourceOf(result, "www.example.test")).toEqual([live.dir]);
    expect(result.problems.filter((problem) => problem.code === "default-name-kept").map((problem) => problem.source)).toEqual([
      expired.dir,
    ]);
  });
});

describe("dot-directories", () => {
  test("a hidden .example.test.old/ holding an expired copy is not a certificate directory: one note, the live directory serves", () => {
    const { sslDir } = mailTree({ defaultNames: ["mail.example.test"], defaultCertificate: { days: 400 }, mainCf: null });
    const hidden = makeCertificateDirectory(sslDir, ".example.test.old", ["example.test"], { days: 30 });
    const live = makeCertificateDirectory(sslDir, "example.test", ["example.test"], { days: 400 });
    mkdirSync(join(sslDir, ".staging")); // no cert.pem: not worth a line
    const certOnly = join(sslDir, ".cert-only");
    mkdirSync(certOnly);
    copyFileSync(join(live.dir, "cert.pem"), join(certOnly, "cert.pem"));
    const result = planSniMapFromTree({ sslDir, hostname: "mail.example.test", now: later() });
    expect(sourceOf(result, "example.test")).toEqual([live.dir]);
    expect(result.sources.map((source) => source.source.dir)).not.toContain(hidden.dir);
    const note = (dir: string) =>
      `${dir}: holds cert.pem but is not a certificate directory (its name starts with a dot, as mailcow's SSL/*/ glob skips); not mapped`;
    expect(result.notes).toEqual([note(certOnly), note(hidden.dir)]);
    expect(result.problems).toEqual([]);
  });
});
