import { describe, expect, test } from "bun:test";
import { certificateCovers, normalizeHostname, normalizeName, splitDomainsText } from "../../../src/sni/names.ts";

const ok = (name: string) => ({ ok: true as const, name });

describe("normalizeName", () => {
  test("an IPv4 address written as a DNS name and a wildcard on a top-level domain are not names we map", () => {
    expect(normalizeName("192.0.2.1")).toEqual({
      ok: false,
      reason: "an IP address, not a DNS name (clients never send an address as SNI)",
    });
    expect(normalizeName("*.com")).toEqual({ ok: false, reason: "a wildcard directly below a top-level domain" });
    expect(normalizeName("*.Example.com")).toEqual(ok(".example.com"));
    expect(normalizeName("1.2.3.example")).toEqual(ok("1.2.3.example"));
  });
  test("lower-cases and drops one trailing dot", () => {
    expect(normalizeName("Mail.Example.COM.")).toEqual(ok("mail.example.com"));
  });
  test("turns a wildcard into Postfix's parent-domain key", () => {
    expect(normalizeName("*.Example.com")).toEqual(ok(".example.com"));
  });
  test("converts internationalized names to A-labels", () => {
    expect(normalizeName("Bücher.example")).toEqual(ok("xn--bcher-kva.example"));
    expect(normalizeName("xn--bcher-kva.example")).toEqual(ok("xn--bcher-kva.example"));
  });
  test.each([
    ["", "empty name"],
    ["a b.example", "whitespace"],
    ["tab\there.example", "whitespace"],
    ["ctl\u0001.example", "control"],
    ["a/b.example", "not allowed"],
    ["../etc/passwd", "not allowed"],
    ["a..example", "empty label"],
    [".example.com", "empty label"],
    ["-lead.example", "letters, digits"],
    ["under_score.example", "letters, digits"],
    ["a.*.example", "whole first label"],
    ["*", "whole first label"],
    [`${"a".repeat(64)}.example`, "label longer than 63"],
    [`${"abcdefghi.".repeat(25)}example`, "longer than 253"],
  ])("rejects %p", (raw, reason) => {
    const result = normalizeName(raw);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toContain(reason);
  });
  test("accepts a 253-character name", () => {
    const name = `${"a".repeat(61)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(63)}`;
    expect(name.length).toBe(253);
    expect(normalizeName(name)).toEqual(ok(name));
  });
});

describe("normalizeHostname", () => {
  test("unset is undefined, wildcard is refused", () => {
    expect(normalizeHostname(undefined)).toBeUndefined();
    expect(normalizeHostname("")).toBeUndefined();
    expect(normalizeHostname("*.example.com")?.ok).toBe(false);
    expect(normalizeHostname("MAIL.example.com")).toEqual(ok("mail.example.com"));
  });
});

describe("splitDomainsText", () => {
  test("splits on spaces, tabs, CRLF and repeated whitespace", () => {
    expect(splitDomainsText(" a.example  b.example\tc.example\r\nd.example\n")).toEqual([
      "a.example",
      "b.example",
      "c.example",
      "d.example",
    ]);
    expect(splitDomainsText("")).toEqual([]);
  });
});

describe("certificateCovers", () => {
  test("exact names and one-label wildcards", () => {
    const keys = ["example.com", ".example.com"];
    expect(certificateCovers(keys, "example.com")).toBe(true);
    expect(certificateCovers(keys, "mail.example.com")).toBe(true);
    expect(certificateCovers(keys, "a.b.example.com")).toBe(false);
    expect(certificateCovers(keys, "example.org")).toBe(false);
    expect(certificateCovers(keys, ".example.com")).toBe(true);
    expect(certificateCovers(["mail.example.com"], ".example.com")).toBe(false);
  });
});

describe("certificateCovers, one-label names", () => {
  test("a name without a dot is covered only by itself, never by a name it ends with", () => {
    expect(certificateCovers(["localhost"], "localhost")).toBe(true);
    expect(certificateCovers(["host"], "localhost")).toBe(false);
    expect(certificateCovers(["t"], "mailhost")).toBe(false);
    expect(certificateCovers([".example.com"], "a.example.com")).toBe(true);
  });
});
