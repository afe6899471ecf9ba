import { describe, expect, test } from "bun:test";
import { compareKeys } from "../../../src/postfix/keys.ts";
import { summarizeToolOutput, toolMessages } from "../../../src/postfix/output.ts";

describe("toolMessages", () => {
  test("configuration warnings are warnings; fatal, panic and error lines are errors; lines without a severity are notices", () => {
    const stderr = [
      "postalias: warning: /opt/postfix/conf/main.cf, line 197: overriding earlier entry: milter_default_action=tempfail",
      "postfix/postfix-script: fatal: the Postfix mail system is already running",
      "postmap: panic: something broke",
      "postconf: error: bad things",
      "a line of no known shape",
      "postfix/postlog: refreshing the Postfix mail system",
      "",
    ].join("\n");
    expect(toolMessages(stderr)).toEqual({
      all: stderr.split("\n").filter(Boolean),
      errors: [
        "postfix/postfix-script: fatal: the Postfix mail system is already running",
        "postmap: panic: something broke",
        "postconf: error: bad things",
      ],
      warnings: [
        "Postfix: /opt/postfix/conf/main.cf, line 197: overriding earlier entry: milter_default_action=tempfail",
        "Postfix: a line of no known shape",
      ],
      notices: ["Postfix: postfix/postlog: refreshing the Postfix mail system"],
    });
  });

  test("a warning whose value says 'fatal' stays a warning", () => {
    const line = "postmap: warning: /c/main.cf, line 3: overriding earlier entry: smtpd_reject_footer=fatal: error: x";
    expect(toolMessages(line).errors).toEqual([]);
  });
});

describe("summarizeToolOutput", () => {
  test("a flood becomes its first distinct lines and a count", () => {
    const flood = Array.from({ length: 3041 }, (_, index) => `postmap: fatal: db error ${index % 7}`).join("\n");
    const summary = summarizeToolOutput(flood);
    expect(summary.split("\n")).toHaveLength(6);
    expect(summary).toEndWith("(3036 more lines left out)");
  });
});

describe("compareKeys", () => {
  test("equal sets: no difference", () => {
    expect(compareKeys(["a.test", "b.test"], ["b.test", "a.test"])).toBeUndefined();
  });
  test("a key postmap dropped, one it invented, a duplicate: all named", () => {
    expect(compareKeys(["a.test", "b.test"], ["a.test", "c.test", "c.test"])).toBe(
      "2 of 2 names stored; missing 1 (b.test); unexpected 1 (c.test); 1 duplicate keys",
    );
  });
});
