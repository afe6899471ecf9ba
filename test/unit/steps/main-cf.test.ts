import { describe, expect, test } from "bun:test";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../../../src/errors.ts";
import { headThroughMarker, renderMainCf, writeMainCf } from "../../../src/steps/main-cf.ts";
import { tempDirs } from "../../support/fixture.ts";

const confDir = tempDirs("mpi-maincf-");

const MAIN = "a = 1\n# Overrides #\nold = appended before\n";
const DNSBL = { sites: "postscreen_dnsbl_sites = x*2\n  y*3", spamhaus: "  z*4" };

describe("main.cf", () => {
  test("cut after the first marker line, then the same layout as mailcow's script", () => {
    expect(headThroughMarker(MAIN)).toBe("a = 1\n# Overrides #\n");
    expect(headThroughMarker("a\n# Overrides\n# Overrides again\nb")).toBe("a\n# Overrides\n");
    expect(renderMainCf("h\n# Overrides #\n", DNSBL, "myhostname = m.example\n\n")).toBe(
      "h\n# Overrides #\n\npostscreen_dnsbl_sites = x*2\n  y*3\n  z*4\n\n# User Overrides\nmyhostname = m.example\n\n",
    );
    // No Spamhaus lines: mailcow's echo still leaves the empty line.
    expect(renderMainCf("# Overrides\n", { sites: "s", spamhaus: "" }, "e\n")).toBe("# Overrides\n\ns\n\n\n# User Overrides\ne\n");
    expect(renderMainCf("# Overrides\n", { sites: "", spamhaus: "" }, "e\n")).toBe("# Overrides\n\n\n# User Overrides\ne\n");
  });

  test("a second run gives the same bytes (it does not grow)", () => {
    const dir = confDir();
    writeFileSync(join(dir, "main.cf"), MAIN);
    writeMainCf(dir, DNSBL, "myhostname = m.example\n");
    const first = readFileSync(join(dir, "main.cf"), "utf8");
    writeMainCf(dir, DNSBL, "myhostname = m.example\n");
    expect(readFileSync(join(dir, "main.cf"), "utf8")).toBe(first);
    expect(first).not.toContain("old = appended before");
  });

  test("without the marker: refused, file untouched", () => {
    const dir = confDir();
    writeFileSync(join(dir, "main.cf"), "a = 1\nb = 2\n");
    expect(() => writeMainCf(dir, DNSBL, "x\n")).toThrow(UserError);
    expect(() => writeMainCf(dir, DNSBL, "x\n")).toThrow(
      new RegExp(
        `^${join(dir, "main.cf")} has no line containing "Overrides".*refusing to append to it, which would make it grow on every start\\. Restore the marker line`,
      ),
    );
    expect(readFileSync(join(dir, "main.cf"), "utf8")).toBe("a = 1\nb = 2\n");
  });

  test("an admin's main.cf keeps its mode; once written it is dated 2 s back (Postfix re-reads a younger main.cf)", () => {
    const dir = confDir();
    writeFileSync(join(dir, "main.cf"), MAIN, { mode: 0o640 });
    const before = Date.now();
    writeMainCf(dir, DNSBL, "myhostname = m.example\n");
    const stat = statSync(join(dir, "main.cf"));
    expect(stat.mode & 0o777).toBe(0o640);
    expect(stat.mtimeMs).toBeLessThanOrEqual(Date.now() - 2_000 + 5);
    expect(stat.mtimeMs).toBeGreaterThanOrEqual(before - 2_000 - 5);
  });

  test("missing main.cf is an error", () => {
    expect(() => writeMainCf(confDir(), DNSBL, "x\n")).toThrow("main.cf does not exist");
  });
});
