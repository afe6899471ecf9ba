import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { normalizeName, planSniMapFromTree } from "../../../src/sni/index.ts";
import { normalizeHostname } from "../../../src/sni/names.ts";
import { mailTrees } from "../../support/fixture.ts";

// docs/map-rules.md, "Names": the edges of what becomes an sni.map key (lengths, address-like
// names, trailing dots and A-labels on the internationalized path) and how a rejected value is
// shown. Found by mutation testing (npm run mutation): each case here failed a surviving mutant.

const key = (raw: string) => {
  const normalized = normalizeName(raw);
  return normalized.ok ? normalized.name : `rejected: ${normalized.reason}`;
};
const label = (length: number, fill = "a") => fill.repeat(length);

test("a last label ending in a hyphen is not a DNS name", () => {
  expect(key("mail.example-")).toBe("rejected: label `example-` is not letters, digits and inner hyphens");
  expect(key("mail.example-1")).toBe("mail.example-1");
});

test("only a whole IPv4 address is refused as one; names that merely contain numbers are names", () => {
  expect(key("198.51.100.10")).toStartWith("rejected: an IP address");
  expect(key("*.198.51.100.10")).toStartWith("rejected: an IP address");
  expect(key("a.192.0.2.1")).toBe("a.192.0.2.1");
  expect(key("10.0.0.1.nip.example")).toBe("10.0.0.1.nip.example");
  expect(key("*.com")).toBe("rejected: a wildcard directly below a top-level domain");
  expect(key("localhost")).toBe("localhost"); // one label, no wildcard: a name
});

test("internationalized names: one trailing dot dropped, A-labels checked, an invalid one named as such", () => {
  expect(key("Bücher.example.")).toBe("xn--bcher-kva.example");
  expect(key("*.Bücher.example.")).toBe(".xn--bcher-kva.example");
  expect(key("bücher.xn--a")).toBe("rejected: not a valid internationalized domain name");
});

test("length limits on the internationalized path: 63 characters a label, 253 a name", () => {
  const idn = "xn--bcher-kva"; // bücher, 13 characters as an A-label
  expect(key(`bücher.${label(63)}.example`)).toBe(`${idn}.${label(63)}.example`);
  expect(key(`bücher.${label(64)}.example`)).toBe("rejected: label longer than 63 characters");
  // bücher. + labels of 63 + dots: exactly 253 characters once converted, then one more.
  const filler = (total: number) => {
    const rest = total - idn.length - 1;
    const parts = [label(63), label(63), label(63), label(rest - 3 * 64)];
    return `bücher.${parts.join(".")}`;
  };
  expect(key(filler(253))).toHaveLength(253);
  expect(key(filler(254))).toBe("rejected: longer than 253 characters");
});

test("a wildcard hostname is refused, saying why", () => {
  expect(normalizeHostname("*.example.test")).toEqual({ ok: false, reason: "a hostname cannot be a wildcard" });
});

const mailTree = mailTrees("mpi-name-rules-");

test("a rejected value is shown quoted and cut at 80 characters", () => {
  const { sslDir } = mailTree({ defaultNames: ["mail.example.test"], certificateDirs: { "example.org": ["example.org"] } });
  const junk = `a/${label(100, "b")}`;
  writeFileSync(join(sslDir, "example.org", "domains"), `example.org ${junk}`);
  const result = planSniMapFromTree({ sslDir, hostname: "mail.example.test" });
  const warning = result.problems.find((problem) => problem.message.includes("ignored 1 invalid name"));
  expect(warning?.message).toContain(JSON.stringify(`${junk.slice(0, 80)}…`));
  expect(warning!.message).not.toContain(junk);
  // Exactly 80 characters: shown whole.
  const eighty = `a/${label(78, "c")}`;
  writeFileSync(join(sslDir, "example.org", "domains"), `example.org ${eighty}`);
  const whole = planSniMapFromTree({ sslDir, hostname: "mail.example.test" }).problems.find((problem) =>
    problem.message.includes("ignored 1 invalid name"),
  );
  expect(whole?.message).toContain(JSON.stringify(eighty));
});

test("an ASCII name is only lower-cased, at any length: with its trailing dot past 253 characters it is the same key as without", () => {
  // An `xn--` label that does not decode: ASCII is taken as written (Postfix compares it
  // verbatim), never re-read as an internationalized name, on the long path as on the short one.
  const ascii = (total: number) => `XN--A.${label(60, "b")}.${label(63, "c")}.${label(63, "d")}.${label(total - 195, "e")}`;
  expect(ascii(253)).toHaveLength(253);
  expect(key("XN--A.example")).toBe("xn--a.example");
  expect(key(`${ascii(253)}.`)).toBe(ascii(253).toLowerCase());
  expect(key(`*.${ascii(252)}.`)).toBe(`.${ascii(252).toLowerCase()}`);
});
