import { expect, test } from "bun:test";
import type { SniMapResult } from "../../../src/sni/index.ts";
import { buildCheckReport, renderCheckJson, renderCheckText } from "../../../src/sni/report.ts";

// `check`'s report of notes (information, not problems: docs/map-rules.md's dot-directories)
// and its JSON escapes, on a result held in memory; check-report.test.ts runs the command.

const NOTE =
  "/ssl/.old: holds cert.pem but is not a certificate directory (its name starts with a dot, as mailcow's SSL/*/ glob skips); not mapped";
const result = (notes: string[], sslDir = "/ssl"): SniMapResult => ({
  sslDir,
  discovery: { sslDir, sources: [], problems: [], notes, observed: {} },
  content: "",
  entries: [],
  sources: [],
  problems: [],
  notes,
});

test("notes are listed in the text report under their own heading, and kept in the JSON", () => {
  const report = buildCheckReport(result([NOTE]));
  expect(report.notes).toEqual([NOTE]);
  const lines = renderCheckText(report).split("\n");
  expect(lines.slice(lines.indexOf("Notes:") - 1, lines.indexOf("Notes:") + 2)).toEqual(["", "Notes:", `  ${NOTE}`]);
  expect(JSON.parse(renderCheckJson(report)).notes).toEqual([NOTE]);
  expect(renderCheckText(buildCheckReport(result([])))).not.toContain("Notes:");
});

test("DEL, C1 controls and line separators in the JSON are \\u escapes of four hex digits", () => {
  const json = renderCheckJson(buildCheckReport(result([], "/ssl/a\x7fb\x85c\u2028d")));
  expect(json).toContain(String.raw`"sslDir": "/ssl/a\u007fb\u0085c\u2028d"`);
  expect(JSON.parse(json).sslDir).toBe("/ssl/a\x7fb\x85c\u2028d");
});
