import { readFileSync } from "node:fs";
import type { Logger } from "../log.ts";
import { parseUnverifiedRecord, unverifiedStartWarning } from "../templates/verify.ts";

// mailcow's update moves its docker-compose.yml to a new postfix image tag, but the override
// pins the image built from the old one: the container would go on running the previous
// mailcow version's startup files without a word. The image records the base it was built
// from; the override mounts mailcow's docker-compose.yml read-only; every start compares the
// two and says so in the log.

/** `ghcr.io/mailcow/postfix:TAG` in a compose file (not postfix-tlspol); undefined when absent. */
export function postfixImageInCompose(composeText: string): string | undefined {
  return composeText.match(/^\s*image:\s*["']?([^\s"'#]*mailcow\/postfix:[^\s"'#]+)/m)?.[1];
}

function tagOf(image: string): string {
  return image.slice(image.lastIndexOf(":") + 1);
}

/** Pure: what to log about the base image, given both files' contents (undefined = missing). */
export function describeBaseImage(
  builtFrom: string | undefined,
  composeText: string | undefined,
  composeFile: string,
): { level: "info" | "warn"; message: string } | undefined {
  // Not in our image (tests, a hand-made install): nothing to compare.
  if (builtFrom === undefined || builtFrom === "") return undefined;
  const rebuild =
    "run mailcow-postfix-init-hook (`../mailcow-postfix-init/docker/mailcow-postfix-init-hook run` in the mailcow directory; `install` makes it run after every update.sh)";
  if (composeText === undefined) {
    return {
      level: "info",
      message: `built from ${builtFrom}; mailcow's docker-compose.yml is not mounted at ${composeFile}, so a mailcow update that changes the postfix image is not detected (see docker/docker-compose.override.yml)`,
    };
  }
  const current = postfixImageInCompose(composeText);
  if (current === undefined) {
    return {
      level: "warn",
      message: `${composeFile} names no mailcow/postfix image; cannot tell whether this image (built from ${builtFrom}) is current`,
    };
  }
  if (tagOf(current) === tagOf(builtFrom)) {
    return { level: "info", message: `built from ${builtFrom}, the postfix image mailcow's docker-compose.yml names` };
  }
  return {
    level: "warn",
    message: `this image was built from ${builtFrom}, but mailcow's docker-compose.yml now names ${current}: Postfix runs with the older mailcow version's startup files; ${rebuild}`,
  };
}

export function checkBaseImage(files: { builtFromFile: string; composeFile: string; unverifiedFile?: string }, log: Logger): void {
  // The build accepted a base whose startup files this release does not know (`templates verify`).
  const unverified = files.unverifiedFile === undefined ? undefined : readOptional(files.unverifiedFile);
  if (unverified !== undefined) log.warn(unverifiedStartWarning(parseUnverifiedRecord(unverified)));
  const verdict = describeBaseImage(readOptional(files.builtFromFile)?.trim(), readOptional(files.composeFile), files.composeFile);
  if (verdict?.level === "warn") log.warn(verdict.message);
  else if (verdict) log.info(verdict.message);
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}
