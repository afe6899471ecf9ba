import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "./docker-images.ts";

// The README's admin commands, as the suite runs them: each shell block that follows a
// `<!-- suite: NAME -->` marker, with mailcow's documented location (/opt/mailcow-dockerized,
// the project cloned next to it) and the repository URL replaced by the test's own. Nothing
// else is changed, so a command that is wrong in the README fails here.

/** The code of the fenced block after `<!-- suite: name -->`, dedented. */
export function readmeStep(name: string, readme = readFileSync(join(REPO, "README.md"), "utf8")): string {
  const marker = readme.indexOf(`<!-- suite: ${name} -->`);
  if (marker === -1) throw new Error(`README.md has no <!-- suite: ${name} --> block`);
  const block = readme.slice(marker).match(/```sh\n([\s\S]*?)\n[ \t]*```/);
  if (!block?.[1]) throw new Error(`README.md: no \`\`\`sh block after <!-- suite: ${name} -->`);
  const lines = block[1].split("\n");
  const indent = Math.min(...lines.filter((line) => line.trim()).map((line) => line.match(/^ */)![0].length));
  return lines.map((line) => line.slice(indent)).join("\n");
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
