import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { ExtractError, extractTemplates } from "../../../src/templates/extract.ts";
import { renderTemplate } from "../../../src/templates/template.ts";
import { FIXTURE_SCRIPT } from "../../support/namespace-root.ts";
import { templateVariables } from "../../support/template-variables.ts";

const fixture = readFileSync(FIXTURE_SCRIPT, "utf8");
const values = { DBUSER: "u$er", DBPASS: `p#"\\w`, DBNAME: "db", SPAMHAUS_DQS_KEY: "abc123" };

describe("extractTemplates", () => {
  const templates = extractTemplates(fixture, FIXTURE_SCRIPT);

  test("finds every block of the upstream-shaped script", () => {
    expect(Object.keys(templates.sqlMaps)).toEqual([
      "mysql_fixture_escapes.cf",
      "mysql_virtual_alias_maps.cf",
      "mysql_virtual_domains_maps.cf",
      "mysql_virtual_mailbox_maps.cf",
    ]);
    for (const template of Object.values(templates.sqlMaps))
      expect(templateVariables(template).sort()).toEqual(["DBNAME", "DBPASS", "DBUSER"]);
    expect(templates.discontinuedDnsbl).toEqual(["retired\\.fixture\\.test\\*2", "gone\\.fixture\\.test"]);
    expect(templateVariables(templates.spamhausDqsSites)).toEqual(["SPAMHAUS_DQS_KEY"]);
    expect(renderTemplate(templates.spamhausOpenSites, {})).toBe("  open.fixture.test=127.0.0.[2..3]*5\n  open.fixture.test=127.0.0.9*7");
    expect(renderTemplate(templates.spamhausDqsSites, values).endsWith("texthash:/opt/postfix/conf/dnsbl_reply.map")).toBe(true);
    expect(renderTemplate(templates.postscreenWhitelist, {})).toContain("10.9.8.7");
    expect(templates.source.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  test("is deterministic", () => {
    expect(JSON.stringify(extractTemplates(fixture, FIXTURE_SCRIPT))).toBe(JSON.stringify(templates));
  });

  const broken: [string, string, string][] = [
    ["missing aliases block", fixture.replace("cat <<EOF > /etc/aliases", "cat <<EOF > /dev/null"), "unexpected heredoc target /dev/null"],
    ["aliases block removed", fixture.replace(/cat <<EOF > \/etc\/aliases\n[\s\S]*?\nEOF\n/, ""), "missing a heredoc writing /etc/aliases"],
    [
      "no open Spamhaus block",
      fixture.replace(/SPAMHAUS_DNSBL_CONFIG=\$\(cat <<EOF\n {2}open[\s\S]*?\nEOF\n/, ""),
      "block without a key (open lists)",
    ],
    ["command substitution in a map", fixture.replace("dbname = ${DBNAME}", "dbname = $(cat /run/db)"), "command substitution"],
    ["unknown variable", fixture.replace("dbname = ${DBNAME}", "dbname = ${DB_NAME}"), "unknown variable $DB_NAME"],
    [
      "other sed on the blocklists",
      fixture.replace("sed -i '/gone", "sed -E -i '/gone"),
      "unrecognized edit of /opt/postfix/conf/dns_blocklists.cf",
    ],
    ["unterminated heredoc", fixture.slice(0, fixture.indexOf("# fixture aliases")), "heredoc never ends"],
    [
      "heredoc of another form",
      fixture.replace("rest=$(cat /opt/postfix/conf/extra.cf)", "tee /tmp/x <<EOF\nx\nEOF"),
      "unrecognized heredoc",
    ],
  ];
  for (const [name, script, message] of broken) {
    test(`refuses a script with ${name}`, () => {
      expect(() => extractTemplates(script, "postfix.sh")).toThrow(ExtractError);
      expect(() => extractTemplates(script, "postfix.sh")).toThrow(message);
    });
  }
});
