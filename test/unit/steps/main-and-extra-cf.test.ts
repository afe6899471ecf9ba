import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../../../src/errors.ts";
import { renderExtraCf, updateExtraCf } from "../../../src/steps/extra-cf.ts";
import { headThroughMarker, renderMainCf, writeMainCf } from "../../../src/steps/main-cf.ts";
import { makeTempDir } from "../../support/tmp.ts";

const cleanups: (() => void)[] = [];
afterAll(() => cleanups.forEach((cleanup) => cleanup()));
function confDir(): string {
  const temp = makeTempDir("mpi-maincf-");
  cleanups.push(temp.cleanup);
  return temp.path;
}

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
    expect(() => writeMainCf(dir, DNSBL, "x\n")).toThrow(/has no line containing "Overrides".*refusing to append/);
    expect(readFileSync(join(dir, "main.cf"), "utf8")).toBe("a = 1\nb = 2\n");
  });

  test("missing main.cf is an error", () => {
    expect(() => writeMainCf(confDir(), DNSBL, "x\n")).toThrow("main.cf does not exist");
  });
});

describe("extra.cf", () => {
  test("only myhostname assignments are replaced; $myhostname users and comments stay", () => {
    const current = "# myhostname is set by mailcow\nmyhostname = old.example\n  myhostname=other.example\nsmtp_helo_name = $myhostname\nmyhostname_extra = 1\n";
    expect(renderExtraCf(current, "mail.example.org")).toBe(
      "myhostname = mail.example.org\n# myhostname is set by mailcow\nsmtp_helo_name = $myhostname\nmyhostname_extra = 1\n",
    );
  });

  test("backslash escapes are kept byte for byte (mailcow's echo -e cuts extra.cf at \\c)", () => {
    const current = "smtpd_reject_footer = \\c. For help see https://example.org/help\nheader_checks = pcre:/x\\\\.y\\t\nmessage_size_limit = 1\n";
    expect(renderExtraCf(current, "m.example")).toBe(`myhostname = m.example\n${current}`);
  });

  test("new and empty files get the hostname line as mailcow writes it", () => {
    expect(renderExtraCf("", "m.example")).toBe("myhostname = m.example\n\n");
  });

  test("idempotent: a second rewrite changes nothing", () => {
    const once = renderExtraCf("a = 1\n\n\n", "m.example");
    expect(renderExtraCf(once, "m.example")).toBe(once);
    expect(renderExtraCf(renderExtraCf("", "m.example"), "m.example")).toBe("myhostname = m.example\n\n");
  });

  test("written in place with the admin's mode kept", () => {
    const dir = confDir();
    writeFileSync(join(dir, "extra.cf"), "x = 1\n", { mode: 0o600 });
    expect(updateExtraCf(dir, "m.example")).toBe("myhostname = m.example\nx = 1\n");
    expect(readFileSync(join(dir, "extra.cf"), "utf8")).toBe("myhostname = m.example\nx = 1\n");
  });

  test("unreadable extra.cf is a clear error", () => {
    const dir = confDir();
    mkdirSync(join(dir, "extra.cf"));
    expect(() => updateExtraCf(dir, "m.example")).toThrow(`cannot read ${join(dir, "extra.cf")}: a directory, not a regular file`);
  });
});
