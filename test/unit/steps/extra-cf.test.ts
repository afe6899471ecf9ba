import { describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderExtraCf, updateExtraCf } from "../../../src/steps/extra-cf.ts";
import { tempDirs } from "../../support/fixture.ts";

const confDir = tempDirs("mpi-extracf-");

describe("extra.cf", () => {
  test("only myhostname assignments are replaced; $myhostname users and comments stay", () => {
    const current =
      "# myhostname is set by mailcow\nmyhostname = old.example\n  myhostname=other.example\nsmtp_helo_name = $myhostname\nmyhostname_extra = 1\n";
    expect(renderExtraCf(current, "mail.example.org")).toBe(
      "myhostname = mail.example.org\n# myhostname is set by mailcow\nsmtp_helo_name = $myhostname\nmyhostname_extra = 1\n",
    );
  });

  test("backslash escapes are kept byte for byte (mailcow's echo -e cuts extra.cf at \\c)", () => {
    const current =
      "smtpd_reject_footer = \\c. For help see https://example.org/help\nheader_checks = pcre:/x\\\\.y\\t\nmessage_size_limit = 1\n";
    expect(renderExtraCf(current, "m.example")).toBe(`myhostname = m.example\n${current}`);
  });

  test("new and empty files get the hostname line as mailcow writes it", () => {
    expect(renderExtraCf("", "m.example")).toBe("myhostname = m.example\n\n");
  });

  test("idempotent: a second rewrite changes nothing", () => {
    const once = renderExtraCf("a = 1\n\n\n", "m.example");
    expect(renderExtraCf(once, "m.example")).toBe(once);
    expect(renderExtraCf(renderExtraCf("", "m.example"), "m.example")).toBe("myhostname = m.example\n\n");
    // Blank lines at the end are one newline.
    expect(once).toBe("myhostname = m.example\na = 1\n");
  });

  test("a commented-out assignment and a parameter ending in myhostname are not assignments of it", () => {
    expect(renderExtraCf("# myhostname = old.example\nx_myhostname = 1\n", "m.example")).toBe(
      "myhostname = m.example\n# myhostname = old.example\nx_myhostname = 1\n",
    );
  });

  test("no extra.cf yet: created 0644 with the hostname line", () => {
    const dir = confDir();
    expect(updateExtraCf(dir, "m.example")).toBe("myhostname = m.example\n\n");
    expect(readFileSync(join(dir, "extra.cf"), "utf8")).toBe("myhostname = m.example\n\n");
    expect(statSync(join(dir, "extra.cf")).mode & 0o777).toBe(0o644);
  });

  test("written in place with the admin's mode kept", () => {
    const dir = confDir();
    writeFileSync(join(dir, "extra.cf"), "x = 1\n", { mode: 0o600 });
    expect(updateExtraCf(dir, "m.example")).toBe("myhostname = m.example\nx = 1\n");
    expect(readFileSync(join(dir, "extra.cf"), "utf8")).toBe("myhostname = m.example\nx = 1\n");
    expect(statSync(join(dir, "extra.cf")).mode & 0o777).toBe(0o600);
  });

  test("unreadable extra.cf is a clear error", () => {
    const dir = confDir();
    mkdirSync(join(dir, "extra.cf"));
    expect(() => updateExtraCf(dir, "m.example")).toThrow(`cannot read ${join(dir, "extra.cf")}: a directory, not a regular file`);
  });
});
