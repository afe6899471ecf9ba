import { describe, expect, test } from "bun:test";
import { embeddedValue } from "../../../src/sni/embedded.ts";
import { planSniMap } from "../../../src/sni/plan.ts";
import type { PairReport, Problem, ValidatedSource } from "../../../src/sni/types.ts";

// docs/map-rules.md's map rules on sources held in memory: which source serves each name, in
// which order the lines come, and the one line each problem gets. Sources are built as
// validation reports them, so each rule runs in microseconds (no certificates, no files).

const NOW = new Date("2026-06-01T00:00:00Z");
const SSL = "/ssl";
const DAY = 24 * 60 * 60 * 1000;
const at = (days: number) => new Date(NOW.getTime() + days * DAY).toISOString();

interface PairOptions {
  names?: string[];
  rejectedNames?: string[];
  notBefore?: string;
  notAfter?: string;
}

function pair(dir: string, prefix: string, options: PairOptions = {}): PairReport {
  return {
    files: { keyFile: `${dir}/${prefix}key.pem`, certFile: `${dir}/${prefix}cert.pem` },
    certificateNames: options.names ?? [],
    rejectedNames: options.rejectedNames,
    notBefore: options.notBefore ?? at(-10),
    notAfter: options.notAfter ?? at(80),
    keyMatches: true,
    valid: true,
  };
}

interface SourceOptions extends PairOptions {
  failure?: PairReport["failure"];
  ecdsa?: "valid" | PairReport["failure"];
  domainsOutside?: boolean;
  dir?: string;
}

function finish(validated: ValidatedSource, options: SourceOptions): ValidatedSource {
  if (options.failure) {
    validated.main = { ...validated.main, valid: false, failure: options.failure };
    validated.usable = false;
    delete validated.value;
  }
  if (options.ecdsa) {
    const ecdsa = pair(validated.source.dir, "ecdsa-", options);
    validated.source.ecdsa = ecdsa.files;
    validated.ecdsa = options.ecdsa === "valid" ? ecdsa : { ...ecdsa, valid: false, failure: options.ecdsa };
  }
  return validated;
}

/** A certificate directory `SSL/NAME` whose domains file holds `domains`. */
function directory(name: string, domains: string, options: SourceOptions = {}): ValidatedSource {
  const dir = options.dir ?? `${SSL}/${name}`;
  const main = pair(dir, "", options);
  const source = {
    kind: "directory" as const,
    dir,
    main: main.files,
    domainsText: domains,
    domainsFile: `${dir}/domains`,
    domainsOutside: options.domainsOutside,
  };
  return finish({ source, main, usable: true, value: embeddedValue(Buffer.from(name)) }, options);
}

/** The default pair SSL/key.pem + SSL/cert.pem. */
function defaultPair(names: string[], options: SourceOptions = {}): ValidatedSource {
  const main = pair(SSL, "", { names, ...options });
  return finish(
    { source: { kind: "default", dir: SSL, main: main.files }, main, usable: true, value: embeddedValue(Buffer.from("default")) },
    options,
  );
}

/** `null`: no hostname set. */
const plan = (sources: ValidatedSource[], hostname: string | null) => planSniMap(sources, hostname ?? undefined, NOW);
const lines = (sources: ValidatedSource[], hostname: string | null = "mail.example.test") =>
  plan(sources, hostname).entries.map((entry) => `${entry.name} ${entry.sourceDir}`);
const problems = (sources: ValidatedSource[], hostname: string | null = "mail.example.test") => plan(sources, hostname).problems;
const brief = (list: Problem[]) => list.map((problem) => `${problem.severity} ${problem.code} ${problem.source}: ${problem.message}`);

describe("which lines the map holds, in which order", () => {
  test("the default certificate's names and the hostname first, sorted; then each directory's names sorted, in source order", () => {
    const sources = [
      defaultPair(["mail.example.test", "b.example.test", "a.example.test"]),
      directory("one", "z.one.test y.one.test"),
      directory("two", "c.two.test"),
    ];
    expect(lines(sources)).toEqual([
      `a.example.test ${SSL}`,
      `b.example.test ${SSL}`,
      `mail.example.test ${SSL}`,
      `y.one.test ${SSL}/one`,
      `z.one.test ${SSL}/one`,
      `c.two.test ${SSL}/two`,
    ]);
  });

  test("a name listed twice in a domains file, or in the certificate and as the hostname, is one line", () => {
    const sources = [defaultPair(["mail.example.test", "MAIL.example.test."]), directory("one", "x.one.test\nx.one.test\tX.One.Test")];
    expect(lines(sources)).toEqual([`mail.example.test ${SSL}`, `x.one.test ${SSL}/one`]);
  });

  test("each line names the key before its chain, and the ECDSA pair after the main pair when it is valid", () => {
    const planned = plan([directory("one", "one.test", { names: ["one.test"], ecdsa: "valid" })], null);
    expect(planned.entries.map((entry) => entry.files)).toEqual([
      [`${SSL}/one/key.pem`, `${SSL}/one/cert.pem`, `${SSL}/one/ecdsa-key.pem`, `${SSL}/one/ecdsa-cert.pem`],
    ]);
    expect(Buffer.from(planned.entries[0]!.value.bytes!).toString()).toBe("one");
  });

  test("without a hostname the default certificate is mapped for its own names", () => {
    expect(lines([defaultPair(["a.example.test"])], null)).toEqual([`a.example.test ${SSL}`]);
    expect(problems([defaultPair(["a.example.test"])], null)).toEqual([]);
  });

  test("a wildcard of the default certificate becomes Postfix's parent-domain key", () => {
    expect(lines([defaultPair(["*.example.test"])], "mail.example.test")).toEqual([`.example.test ${SSL}`, `mail.example.test ${SSL}`]);
    expect(problems([defaultPair(["*.example.test"])], "mail.example.test")).toEqual([]);
  });
});

describe("sources that cannot be mapped: one error line naming the consequence", () => {
  test("an unusable directory: not mapped, its names get the default certificate", () => {
    const failure = { code: "key-mismatch", reason: "the key does not match" };
    const sources = [defaultPair(["mail.example.test"]), directory("one", "a.test b.test", { failure })];
    expect(lines(sources)).toEqual([`mail.example.test ${SSL}`]);
    expect(brief(problems(sources))).toEqual([
      `error key-mismatch ${SSL}/one: ${SSL}/one: the key does not match; not mapped; a.test, b.test get the default certificate`,
    ]);
    expect(brief(problems([directory("one", "a.test", { failure })]))).toEqual([
      `error key-mismatch ${SSL}/one: ${SSL}/one: the key does not match; not mapped; a.test gets the default certificate`,
    ]);
  });

  test("a failure that is only a warning stays a warning", () => {
    const failure = { code: "odd", reason: "odd", severity: "warning" as const };
    expect(problems([directory("one", "a.test", { failure })]).map((problem) => problem.severity)).toEqual(["warning"]);
    expect(problems([defaultPair(["a.test"], { failure })]).map((problem) => problem.severity)).toEqual(["warning"]);
  });

  test("an unusable directory without valid names: its names get the default certificate", () => {
    const failure = { code: "key-mismatch", reason: "bad" };
    const messages = problems([directory("one", "x_y.test", { failure })]).map((problem) => problem.message);
    expect(messages).toContain(`${SSL}/one: bad; not mapped; its names get the default certificate`);
  });

  test("an unusable default certificate: not mapped at all, names without a directory get Postfix's default chain", () => {
    const sources = [
      defaultPair(["mail.example.test"], { failure: { code: "expired-key", reason: "broken" } }),
      directory("one", "one.test", { names: ["one.test"] }),
    ];
    expect(lines(sources)).toEqual([`one.test ${SSL}/one`]);
    expect(brief(problems(sources))).toEqual([
      `error expired-key ${SSL}: ${SSL}: broken; the default certificate is not mapped (names without a directory get Postfix's default chain)`,
    ]);
  });

  test("a path with whitespace or a comma, which a Postfix map value cannot hold: not mapped, rename the directory", () => {
    for (const dir of [`${SSL}/my dir`, `${SSL}/a,b`, `${SSL}/tab\there`]) {
      const sources = [directory("x", "x.test", { names: ["x.test"], dir })];
      expect(lines(sources)).toEqual([]);
      expect(problems(sources).map((problem) => [problem.severity, problem.code, problem.source])).toEqual([
        ["error", "path-unusable", dir],
      ]);
      expect(problems(sources)[0]!.message).toBe(
        `${dir}: path ${JSON.stringify(`${dir}/key.pem`)} contains whitespace or a comma, which Postfix map values cannot hold; rename the directory`,
      );
    }
    const ecdsaDir = `${SSL}/e`;
    const withEcdsa = directory("e", "e.test", { names: ["e.test"], ecdsa: "valid" });
    withEcdsa.source.ecdsa = { keyFile: `${ecdsaDir}/ecdsa key.pem`, certFile: `${ecdsaDir}/ecdsa-cert.pem` };
    expect(problems([withEcdsa]).map((problem) => problem.code)).toEqual(["path-unusable"]);
    expect(lines([withEcdsa])).toEqual([]);
  });

  test("a broken ECDSA pair is left out with one error of its own; the main pair is served", () => {
    const sources = [directory("one", "one.test", { names: ["one.test"], ecdsa: { code: "key-mismatch", reason: "ecdsa bad" } })];
    expect(brief(problems(sources, null))).toEqual([
      `error ecdsa-key-mismatch ${SSL}/one: ${SSL}/one: ecdsa bad; ECDSA pair left out, the main pair is served`,
    ]);
    expect(plan(sources, null).entries.map((entry) => entry.files)).toEqual([[`${SSL}/one/key.pem`, `${SSL}/one/cert.pem`]]);
    const warned = [directory("one", "one.test", { names: ["one.test"], ecdsa: { code: "x", reason: "r", severity: "warning" } })];
    expect(problems(warned, null).map((problem) => problem.severity)).toEqual(["warning"]);
  });
});

describe("several sources for one name: the usable certificate wins", () => {
  test("valid now and covering the name beats an expired certificate that sorts first; one warning says why", () => {
    const sources = [
      directory("0ld", "example.test", { names: ["example.test"], notAfter: at(-1) }),
      directory("new", "example.test", { names: ["example.test"], notAfter: at(10) }),
    ];
    expect(lines(sources, null)).toEqual([`example.test ${SSL}/new`]);
    expect(brief(problems(sources, null))).toEqual([
      `warning name-conflict ${SSL}/0ld: example.test listed by both ${SSL}/new and ${SSL}/0ld; mapped to ${SSL}/new (valid now and covering the name)`,
    ]);
  });

  test("a certificate that expires at this very moment is no longer valid", () => {
    const sources = [
      directory("a", "example.test", { names: ["example.test"], notAfter: NOW.toISOString() }),
      directory("b", "example.test", { names: ["example.test"], notAfter: at(-5) }),
    ];
    // Neither is usable: the one valid longest wins, for that reason.
    expect(lines(sources, null)).toEqual([`example.test ${SSL}/a`]);
    expect(problems(sources, null).map((problem) => problem.message)).toEqual([
      `example.test listed by both ${SSL}/a and ${SSL}/b; mapped to ${SSL}/a (valid longer)`,
    ]);
    const both = [
      directory("a", "example.test", { names: ["example.test"], notAfter: NOW.toISOString() }),
      directory("b", "example.test", { names: ["example.test"], notAfter: at(1) }),
    ];
    expect(lines(both, null)).toEqual([`example.test ${SSL}/b`]);
    expect(problems(both, null)[0]!.message).toEndWith("(valid now and covering the name)");
  });

  test("a certificate not valid yet loses to one valid now; one valid from this very moment is valid", () => {
    const sources = [
      directory("a", "example.test", { names: ["example.test"], notBefore: at(1), notAfter: at(90) }),
      directory("b", "example.test", { names: ["example.test"], notBefore: NOW.toISOString(), notAfter: at(30) }),
    ];
    expect(lines(sources, null)).toEqual([`example.test ${SSL}/b`]);
    expect(problems(sources, null)[0]!.message).toEndWith("(valid now and covering the name)");
  });

  test("a certificate covering the name beats one that does not; a wildcard covers one label, not two", () => {
    const sources = [
      directory("a", "x.y.example.test", { names: ["*.example.test"] }),
      directory("b", "x.y.example.test", { names: ["*.y.example.test"], notAfter: at(5) }),
    ];
    expect(lines(sources, null)).toEqual([`x.y.example.test ${SSL}/b`]);
    const first = [
      directory("a", "shop.example.test", { names: ["*.example.test"], notAfter: at(5) }),
      directory("b", "shop.example.test", { names: ["other.test"] }),
    ];
    expect(lines(first, null)).toEqual([`shop.example.test ${SSL}/a`]);
  });

  test("among equals the one valid longest, then the first in byte order; one warning per pair of directories, listing the names", () => {
    const sources = [
      directory("a", "one.test two.test", { names: ["one.test", "two.test"], notAfter: at(30) }),
      directory("b", "one.test two.test", { names: ["one.test", "two.test"], notAfter: at(60) }),
      directory("c", "three.test", { names: ["three.test"] }),
      directory("d", "three.test", { names: ["three.test"] }),
    ];
    expect(lines(sources, null)).toEqual([`one.test ${SSL}/b`, `two.test ${SSL}/b`, `three.test ${SSL}/c`]);
    expect(problems(sources, null).map((problem) => [problem.source, problem.message])).toEqual([
      [`${SSL}/a`, `one.test, two.test listed by both ${SSL}/b and ${SSL}/a; mapped to ${SSL}/b (valid longer)`],
      [`${SSL}/d`, `three.test listed by both ${SSL}/c and ${SSL}/d; mapped to ${SSL}/c (first in name order)`],
    ]);
  });

  test("a certificate without dates is valid and counts as the one ending first", () => {
    const undated = directory("a", "one.test", { names: ["one.test"] });
    delete undated.main.notAfter;
    delete undated.main.notBefore;
    const dated = directory("b", "one.test", { names: ["one.test"], notAfter: at(1) });
    expect(lines([undated, dated], null)).toEqual([`one.test ${SSL}/b`]);
    expect(problems([undated, dated], null)[0]!.message).toEndWith("(valid longer)");
    expect(lines([undated], null)).toEqual([`one.test ${SSL}/a`]);
    expect(problems([undated], null)).toEqual([]);
  });

  test("an unusable directory listing a name claims nothing", () => {
    const sources = [
      directory("a", "one.test", { names: ["one.test"], failure: { code: "key-mismatch", reason: "r" } }),
      directory("b", "one.test", { names: ["one.test"] }),
    ];
    expect(lines(sources, null)).toEqual([`one.test ${SSL}/b`]);
    expect(problems(sources, null).map((problem) => problem.code)).toEqual(["key-mismatch"]);
  });
});

describe("a directory and the default certificate", () => {
  test("a directory listing the hostname or a default name wins it, with one warning naming both", () => {
    const sources = [
      defaultPair(["mail.example.test", "example.test", "www.example.test"]),
      directory("d", "example.test mail.example.test", { names: ["example.test", "mail.example.test"] }),
    ];
    expect(lines(sources)).toEqual([`www.example.test ${SSL}`, `example.test ${SSL}/d`, `mail.example.test ${SSL}/d`]);
    expect(brief(problems(sources))).toEqual([
      `warning default-name-claimed ${SSL}/d: mail.example.test, example.test are names of the default certificate (or the hostname) and listed by ${SSL}/d: mapped to ${SSL}/d (a directory wins over the default certificate)`,
    ]);
    const one = [defaultPair(["mail.example.test", "example.test"]), directory("d", "example.test", { names: ["example.test"] })];
    expect(problems(one)[0]!.message).toStartWith("example.test is a name of the default certificate");
  });

  test("the default certificate keeps a name from a directory whose certificate is expired, not yet valid or does not cover it", () => {
    const sources = [
      defaultPair(["mail.example.test", "a.test", "b.test", "c.test"]),
      directory("expired", "a.test b.test", { names: ["a.test", "b.test"], notAfter: at(-1) }),
      directory("other", "c.test", { names: ["other.test"] }),
    ];
    expect(lines(sources)).toEqual([`a.test ${SSL}`, `b.test ${SSL}`, `c.test ${SSL}`, `mail.example.test ${SSL}`]);
    expect(brief(problems(sources)).filter((line) => line.includes("default-name-kept"))).toEqual([
      `warning default-name-kept ${SSL}/expired: a.test, b.test listed by ${SSL}/expired, whose certificate is expired, not yet valid or does not cover them: mapped to the default certificate, which is valid and covers them`,
      `warning default-name-kept ${SSL}/other: c.test listed by ${SSL}/other, whose certificate is expired, not yet valid or does not cover it: mapped to the default certificate, which is valid and covers it`,
    ]);
    expect(problems(sources).map((problem) => problem.code)).not.toContain("default-name-claimed");
  });

  test("a name the default certificate does not serve stays with the directory, even an expired one", () => {
    const sources = [defaultPair(["mail.example.test"]), directory("d", "d.test", { names: ["d.test"], notAfter: at(-1) })];
    expect(lines(sources)).toEqual([`mail.example.test ${SSL}`, `d.test ${SSL}/d`]);
    const expiredDefault = [
      defaultPair(["mail.example.test", "x.test"], { notAfter: at(-1) }),
      directory("d", "x.test", { names: ["other.test"] }),
    ];
    expect(lines(expiredDefault)).toEqual([`mail.example.test ${SSL}`, `x.test ${SSL}/d`]);
    expect(problems(expiredDefault).map((problem) => problem.code)).toContain("default-name-claimed");
  });

  test("the hostname stays with the default certificate that covers it when the claiming directory does not", () => {
    const sources = [defaultPair(["*.example.test"]), directory("d", "mail.example.test", { names: ["other.test"] })];
    expect(lines(sources)).toEqual([`.example.test ${SSL}`, `mail.example.test ${SSL}`]);
  });

  test("a default certificate not covering the hostname: a warning; the hostname is mapped to it anyway", () => {
    const sources = [defaultPair(["other.example.test"])];
    expect(lines(sources)).toEqual([`mail.example.test ${SSL}`, `other.example.test ${SSL}`]);
    expect(brief(problems(sources))).toEqual([
      `warning hostname-not-covered ${SSL}: ${SSL}/cert.pem: the default certificate does not cover the hostname mail.example.test`,
    ]);
  });

  test("a directory whose certificate does not cover a name it lists: mapped, one warning naming the names", () => {
    const sources = [directory("d", "a.test b.test c.test", { names: ["a.test"] })];
    expect(lines(sources, null)).toEqual([`a.test ${SSL}/d`, `b.test ${SSL}/d`, `c.test ${SSL}/d`]);
    expect(brief(problems(sources, null))).toEqual([
      `warning name-not-covered ${SSL}/d: ${SSL}/d: the certificate does not cover b.test, c.test; clients that verify names will reject it for them`,
    ]);
  });
});

describe("names that are not mapped: one warning per file, five values quoted", () => {
  test("invalid names in a domains file are quoted with why, the first five, then how many more", () => {
    const sources = [directory("d", "ok.test 192.0.2.1 *.com a_b.test", { names: ["ok.test"] })];
    expect(lines(sources, null)).toEqual([`ok.test ${SSL}/d`]);
    const [problem] = problems(sources, null);
    expect(problem).toMatchObject({ severity: "warning", code: "invalid-name", source: `${SSL}/d` });
    expect(problem!.message).toBe(
      `${SSL}/d/domains: ignored 3 invalid names: "192.0.2.1" (an IP address, not a DNS name (clients never send an address as SNI)), "*.com" (a wildcard directly below a top-level domain), "a_b.test" (label \`a_b\` is not letters, digits and inner hyphens)`,
    );
    const many = [directory("d", "1_.test 2_.test 3_.test 4_.test 5_.test 6_.test 7_.test")];
    const message = problems(many, null)[0]!.message;
    expect(message).toStartWith(`${SSL}/d/domains: ignored 7 invalid names: "1_.test" (`);
    expect(message).toContain(`"5_.test"`);
    expect(message).not.toContain(`"6_.test"`);
    expect(message).toEndWith(" and 2 more");
    expect(problems([directory("d", "a_b.test ok.test", { names: ["ok.test"] })], null)[0]!.message).toStartWith(
      `${SSL}/d/domains: ignored 1 invalid name: `,
    );
  });

  test("a domains file resolving outside the SSL dir: the rejected values are counted, not one byte quoted", () => {
    const sources = [directory("d", "root:x:0:0 daemon:x:1:1 ok.test", { names: ["ok.test"], domainsOutside: true })];
    expect(problems(sources, null).map((problem) => problem.message)).toEqual([
      `${SSL}/d/domains: ignored 2 invalid names (the file resolves outside the SSL dir; values not shown)`,
    ]);
    const one = [directory("d", "root:x ok.test", { names: ["ok.test"], domainsOutside: true })];
    expect(problems(one, null)[0]!.message).toBe(
      `${SSL}/d/domains: ignored 1 invalid name (the file resolves outside the SSL dir; values not shown)`,
    );
  });

  test("a domains file listing no names: one warning, the directory is not mapped", () => {
    const sources = [directory("d", " \n\t", { names: ["d.test"] })];
    expect(lines(sources, null)).toEqual([]);
    expect(brief(problems(sources, null))).toEqual([`warning no-names ${SSL}/d: ${SSL}/d/domains: lists no names; directory not mapped`]);
  });

  test("certificate names that are not ASCII, or not valid names, are one warning for the certificate file", () => {
    const sources = [defaultPair(["mail.example.test", "x_y.test"], { rejectedNames: ["b\\xc3\\xbccher.test"] })];
    expect(lines(sources)).toEqual([`mail.example.test ${SSL}`]);
    expect(brief(problems(sources))).toEqual([
      `warning invalid-name ${SSL}: ${SSL}/cert.pem: ignored certificate 2 invalid names: "b\\xc3\\xbccher.test" (not ASCII: a dNSName is an IA5String; internationalized names must be written as A-labels, xn--...), "x_y.test" (label \`x_y\` is not letters, digits and inner hyphens)`,
    ]);
  });

  test("a long list of names in a warning: five quoted, then how many more", () => {
    const names = ["a", "b", "c", "d", "e", "f", "g"].map((label) => `${label}.test`);
    const sources = [directory("d", names.join(" "), { names: ["other.test"] })];
    expect(problems(sources, null)[0]!.message).toBe(
      `${SSL}/d: the certificate does not cover a.test, b.test, c.test, d.test, e.test and 2 more; clients that verify names will reject it for them`,
    );
  });
});

describe("edges of the quoting rules", () => {
  test("exactly five values are all quoted, with nothing about more", () => {
    const rejected = [directory("d", "1_.test 2_.test 3_.test 4_.test 5_.test ok.test", { names: ["ok.test"] })];
    expect(problems(rejected, null)[0]!.message).toEndWith(`"5_.test" (label \`5_\` is not letters, digits and inner hyphens)`);
    const uncovered = [directory("d", "a.test b.test c.test d.test e.test", { names: ["other.test"] })];
    expect(problems(uncovered, null)[0]!.message).toBe(
      `${SSL}/d: the certificate does not cover a.test, b.test, c.test, d.test, e.test; clients that verify names will reject it for them`,
    );
  });

  test("a domains file of invalid names only: the invalid-name warning, not also 'lists no names'", () => {
    const sources = [directory("d", "a_b.test", { names: ["d.test"] })];
    expect(problems(sources, null).map((problem) => problem.code)).toEqual(["invalid-name"]);
    expect(lines(sources, null)).toEqual([]);
  });

  test("a directory without domains text lists no names", () => {
    const source = directory("d", "", { names: ["d.test"] });
    delete source.source.domainsText;
    expect(brief(problems([source], null))).toEqual([`warning no-names ${SSL}/d: ${SSL}/d/domains: lists no names; directory not mapped`]);
  });

  test("a source that names no domains file is named by its directory", () => {
    const source = directory("d", "a_b.test ok.test", { names: ["ok.test"] });
    delete source.source.domainsFile;
    expect(problems([source], null)[0]!.message).toStartWith(`${SSL}/d: ignored 1 invalid name: `);
  });
});

describe("names the default certificate only covers", () => {
  test("a name the default certificate covers through its wildcard but does not list stays with the directory that lists it", () => {
    const sources = [
      defaultPair(["*.example.test"]),
      directory("shop", "shop.example.test", { names: ["shop.example.test"], notAfter: at(-1) }),
    ];
    expect(lines(sources)).toEqual([`.example.test ${SSL}`, `mail.example.test ${SSL}`, `shop.example.test ${SSL}/shop`]);
    expect(problems(sources).map((problem) => problem.code)).not.toContain("default-name-kept");
  });

  test("a source unusable without a recorded reason is still one error line", () => {
    const source = directory("d", "d.test", { names: ["d.test"] });
    source.usable = false;
    delete source.value;
    expect(brief(problems([source], null))).toEqual([
      `error invalid ${SSL}/d: ${SSL}/d: unusable; not mapped; d.test gets the default certificate`,
    ]);
  });
});
