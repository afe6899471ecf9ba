import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "./docker-images.ts";

// The README's admin commands, as the suite runs them: each shell block that follows a
// `<!-- suite: NAME -->` marker, with mailcow's documented location (/opt/mailcow-dockerized,
// the project cloned next to it) and the repository URL replaced by the test's own. Nothing
// else is changed, so a command that is wrong in the README fails here.

/**
 * The code of the fenced block (```sh unless `language` says otherwise) that directly follows
 * `<!-- suite: name -->`, dedented.
 */
export function readmeStep(name: string, readme = readFileSync(join(REPO, "README.md"), "utf8"), language = "sh"): string {
  const marker = `<!-- suite: ${name} -->`;
  const at = readme.indexOf(marker);
  if (at === -1) throw new Error(`README.md has no ${marker} block`);
  if (readme.indexOf(marker, at + marker.length) !== -1) throw new Error(`README.md has ${marker} twice`);
  const block = readme.slice(at + marker.length).match(new RegExp(`^\\s*\`\`\`${language}\\n([\\s\\S]*?)\\n[ \\t]*\`\`\``));
  if (!block?.[1]) throw new Error(`README.md: no \`\`\`${language} block right after ${marker}`);
  const lines = block[1].split("\n");
  const indent = Math.min(...lines.filter((line) => line.trim()).map((line) => line.match(/^ */)![0].length));
  return lines.map((line) => line.slice(indent)).join("\n");
}

/** The names of every `<!-- suite: NAME -->` marker, in order. Pure. */
export function readmeStepNames(readme = readFileSync(join(REPO, "README.md"), "utf8")): string[] {
  return [...readme.matchAll(/<!-- suite: ([a-z0-9-]+) -->/g)].map((match) => match[1]!);
}

export interface StepPlaces {
  /** Stands for /opt/mailcow-dockerized. */
  mailcowDir: string;
  /** Stands for /opt, where the project is cloned next to mailcow. */
  parentDir: string;
  /** Stands for "<this repository's URL>". */
  repositoryUrl: string;
}

/** The README block with the documented paths replaced. Pure. */
export function adaptStep(script: string, places: StepPlaces): string {
  return script
    .replaceAll("/opt/mailcow-dockerized", places.mailcowDir)
    .replace(/^cd \/opt$/m, `cd ${places.parentDir}`)
    .replaceAll("<this repository's URL>", places.repositoryUrl);
}

export interface TableRow {
  step: string;
  /** The one command of the row (its backticked cell). */
  command: string;
  lastLine: string;
}

/**
 * The rows of the table right after `<!-- suite-table: name -->`: step, command (one
 * backticked line), the last line it prints. Pure.
 */
export function readmeTable(name: string, readme = readFileSync(join(REPO, "README.md"), "utf8")): TableRow[] {
  const marker = `<!-- suite-table: ${name} -->`;
  const at = readme.indexOf(marker);
  if (at === -1) throw new Error(`README.md has no ${marker} table`);
  const lines = readme
    .slice(at + marker.length)
    .trimStart()
    .split("\n");
  const table = lines.slice(
    0,
    lines.findIndex((line) => !line.startsWith("|")),
  );
  return table.slice(2).map((line) => {
    const [step = "", command = "", lastLine = ""] = line
      .slice(1, -1)
      .split(" | ")
      .map((cell) => cell.trim());
    const code = command.match(/^`([^`]+)`$/)?.[1];
    if (!code) throw new Error(`README.md ${marker}: row "${step}" has no single backticked command: ${command}`);
    return { step, command: code, lastLine };
  });
}
