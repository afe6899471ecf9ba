import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { COMMANDS } from "../../src/cli.ts";
import { commandPaths, runCli } from "../support/cli.ts";
import { COMMANDS_DOC, renderCommandsDoc } from "../support/commands-doc.ts";

// docs/commands.md is generated from the command declarations, and says what `--help` says.

const doc = readFileSync(COMMANDS_DOC, "utf8");

describe("docs/commands.md", () => {
  test("is what the generator writes (run `npm run docs` after changing a command)", () => {
    expect(doc).toBe(`${renderCommandsDoc()}\n`);
  });

  test("holds the global --help verbatim", async () => {
    const help = await runCli(["--help"]);
    expect(doc).toContain(`\`\`\`\n${help.stdout.trimEnd()}\n\`\`\``);
  });

  for (const path of commandPaths(COMMANDS)) {
    test(`has a section for \`${path.join(" ")}\` holding its --help verbatim, and a row for each of its flags`, async () => {
      const help = await runCli([...path, "--help"]);
      expect(help.exitCode).toBe(0);
      const start = doc.indexOf(`\n## \`${path.join(" ")}\`\n`);
      expect(start).toBeGreaterThan(-1);
      const next = doc.indexOf("\n## ", start + 1);
      const section = doc.slice(start, next === -1 ? undefined : next);
      expect(section).toContain(`\`\`\`\n${help.stdout.trimEnd()}\n\`\`\``);
      // Each flag --help lists (but --help itself) is a row of the section's table.
      const flags = [...help.stdout.matchAll(/^ {2}(--[a-z-]+)/gm)].map((match) => match[1]!).filter((flag) => flag !== "--help");
      for (const flag of flags) expect(section).toMatch(new RegExp(`^\\| \`${flag}[ \`]`, "m"));
    });
  }
});
