import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { extractTemplates } from "../../../src/templates/extract.ts";
import { basicRegexToJs, expandHeredocBody } from "../../../src/templates/heredoc.ts";
import { renderTemplate } from "../../../src/templates/template.ts";
import { FIXTURE_SCRIPT } from "../../support/namespace-root.ts";
import { templateVariables } from "../../support/template-variables.ts";

/** The variables a template uses. */

const fixture = readFileSync(FIXTURE_SCRIPT, "utf8");
const values = { DBUSER: "u$er", DBPASS: `p#"\\w`, DBNAME: "db", SPAMHAUS_DQS_KEY: "abc123" };

/** What bash itself makes of a heredoc body with the same variables set. */
function bashExpand(body: string): string {
  const script = `cat <<EOF\n${body}EOF\n`;
  const result = Bun.spawnSync(["bash", "-c", script], { env: { ...values, PATH: process.env.PATH! } });
  if (result.exitCode !== 0) throw new Error(result.stderr.toString());
  return result.stdout.toString();
}

describe("heredoc expansion", () => {
  const bodies = [
    "user = ${DBUSER}\npassword = $DBPASS\n",
    "JSON_VALUE(attributes, '$.tls_enforce_in') = '1' AND x LIKE '@%%'\n",
    "escaped \\$DBUSER and \\\\ and \\` and lone \\d \\n stay\n",
    "line one \\\ncontinued; price 5$ and $ alone and $'x' end $\n",
    "${SPAMHAUS_DQS_KEY}.zen.example=127.0.0.[4..7]*6\n",
  ];
  for (const body of bodies) {
    test(`matches bash: ${JSON.stringify(body.slice(0, 40))}`, () => {
      const template = expandHeredocBody(body, ["DBUSER", "DBPASS", "DBNAME", "SPAMHAUS_DQS_KEY"], "test");
      expect(renderTemplate(template, values)).toBe(bashExpand(body));
    });
  }

  test("every heredoc of the fixture script renders as bash writes it", () => {
    const templates = extractTemplates(fixture, FIXTURE_SCRIPT);
    const bodyOf = (target: string) => {
      const start = fixture.indexOf(`> ${target}\n`);
      const end = fixture.indexOf("\nEOF\n", start);
      return fixture.slice(fixture.indexOf("\n", start) + 1, end + 1);
    };
    for (const [name, template] of Object.entries(templates.sqlMaps)) {
      expect(renderTemplate(template, values)).toBe(bashExpand(bodyOf(`/opt/postfix/conf/sql/${name}`)));
    }
    expect(renderTemplate(templates.aliases, values)).toBe(bashExpand(bodyOf("/etc/aliases")));
    expect(renderTemplate(templates.dnsblSites, values)).toBe(bashExpand(bodyOf("/opt/postfix/conf/dns_blocklists.cf")));
    expect(renderTemplate(templates.spamhausDqsReplyMap, values)).toBe(bashExpand(bodyOf("/opt/postfix/conf/dnsbl_reply.map")));
  });

  test("refuses what it cannot expand without a shell", () => {
    const expectShape = (body: string, fragment: string) => expect(() => expandHeredocBody(body, ["DBUSER"], "f.sh:3")).toThrow(fragment);
    expectShape("x = $(hostname)\n", "command substitution");
    expectShape("x = `hostname`\n", "command substitution");
    expectShape("x = $((1+1))\n", "command substitution or arithmetic");
    expectShape("x = ${DBUSER:-root}\n", "parameter expansion ${DBUSER:-root} is not supported");
    expectShape("x = $1\n", "special parameter $1");
    expectShape("x = ${HOME}\n", "f.sh:3: unknown variable $HOME; expected ${DBUSER}");
    expectShape("x = $DBPASS\n", "unknown variable $DBPASS");
  });

  test("a literal ${DBUSER} in upstream text stays literal, never a placeholder", () => {
    const template = expandHeredocBody("a \\${DBUSER} b\n", ["DBUSER"], "t");
    expect(templateVariables(template)).toEqual([]);
    expect(renderTemplate(template, {})).toBe("a ${DBUSER} b\n");
  });

  test("sed patterns become equivalent JavaScript regexes", () => {
    const regex = new RegExp(basicRegexToJs("ix\\.dnsbl\\.manitu\\.net\\*2", "t"));
    expect(regex.test("  ix.dnsbl.manitu.net*2")).toBe(true);
    expect(regex.test("  ixXdnsbl.manitu.net*2")).toBe(false);
    expect(new RegExp(basicRegexToJs("^a.b*$", "t")).test("axbbb")).toBe(true);
    expect(() => basicRegexToJs("a\\(b\\)", "t")).toThrow("regex escape");
    expect(() => basicRegexToJs("[ab]", "t")).toThrow("bracket expressions");
  });
});
