import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createMemoryLogger } from "../../../src/log.ts";
import { DEFAULT_BASE_IMAGE_FILE, DEFAULT_MAILCOW_COMPOSE_FILE } from "../../../src/commands/start-options.ts";
import { checkBaseImage, describeBaseImage, postfixImageInCompose } from "../../../src/steps/base-image.ts";
import { REPO } from "../../support/docker-images.ts";
import { tempDirs } from "../../support/fixture.ts";

const tempDir = tempDirs("mpi-base-image-");

const compose = (tag: string) =>
  `services:\n    postfix-tlspol-mailcow:\n      image: ghcr.io/mailcow/postfix-tlspol:1.8.22\n    postfix-mailcow:\n      image: ghcr.io/mailcow/postfix:${tag}\n      depends_on:\n`;
const FILE = "/etc/mailcow-postfix-init/mailcow-compose.yml";

describe("postfixImageInCompose", () => {
  test("finds the postfix image, not postfix-tlspol", () => {
    expect(postfixImageInCompose(compose("3.10.12-1"))).toBe("ghcr.io/mailcow/postfix:3.10.12-1");
    expect(postfixImageInCompose('      image: "ghcr.io/mailcow/postfix:3.10.13-1" # pinned\n')).toBe("ghcr.io/mailcow/postfix:3.10.13-1");
    expect(postfixImageInCompose("services: {}\n")).toBeUndefined();
  });

  test("a commented-out image line is not the image; any spacing after `image:` is", () => {
    expect(postfixImageInCompose("    #image: ghcr.io/mailcow/postfix:3.9.0-1\n    image:   ghcr.io/mailcow/postfix:3.10.13-1\n")).toBe(
      "ghcr.io/mailcow/postfix:3.10.13-1",
    );
  });
});

describe("describeBaseImage", () => {
  test("same tag: one info line", () => {
    expect(describeBaseImage("ghcr.io/mailcow/postfix:3.10.12-1", compose("3.10.12-1"), FILE)).toEqual({
      level: "info",
      message: "built from ghcr.io/mailcow/postfix:3.10.12-1, the postfix image mailcow's docker-compose.yml names",
    });
  });
  test("mailcow moved on: a warning naming both images and the fix", () => {
    const verdict = describeBaseImage("ghcr.io/mailcow/postfix:3.10.12-1", compose("3.10.13-1"), FILE);
    expect(verdict?.level).toBe("warn");
    expect(verdict?.message).toContain(
      "built from ghcr.io/mailcow/postfix:3.10.12-1, but mailcow's docker-compose.yml now names ghcr.io/mailcow/postfix:3.10.13-1",
    );
    expect(verdict?.message).toContain("`../mailcow-postfix-init/docker/mailcow-postfix-init-hook run`");
  });
  test("a mirror registry with the same tag is current", () => {
    expect(describeBaseImage("registry.example.net/mailcow/postfix:3.10.12-1", compose("3.10.12-1"), FILE)?.level).toBe("info");
  });
  test("compose file not mounted: says the check is off; outside our image: nothing", () => {
    expect(describeBaseImage("ghcr.io/mailcow/postfix:3.10.12-1", undefined, FILE)?.message).toContain(`not mounted at ${FILE}`);
    expect(describeBaseImage(undefined, compose("3.10.12-1"), FILE)).toBeUndefined();
    expect(describeBaseImage("ghcr.io/mailcow/postfix:3.10.12-1", "services: {}\n", FILE)?.level).toBe("warn");
  });
});

describe("checkBaseImage at start", () => {
  test("the image and the override agree on where the two files are", () => {
    expect(readFileSync(join(REPO, "docker", "docker-compose.override.yml"), "utf8")).toContain(
      `./docker-compose.yml:${DEFAULT_MAILCOW_COMPOSE_FILE}:ro`,
    );
    expect(readFileSync(join(REPO, "Dockerfile.postfix"), "utf8").match(/> (\S*base-image)\b/)?.[1]).toBe(DEFAULT_BASE_IMAGE_FILE);
  });

  test("one line: info when current or not mounted, a warning when mailcow moved on or names no image; nothing outside our image", () => {
    const dir = tempDir();
    const builtFromFile = join(dir, "base-image");
    const composeFile = join(dir, "mailcow-compose.yml");
    const lines = () => {
      const log = createMemoryLogger();
      checkBaseImage({ builtFromFile, composeFile }, log);
      return log.lines;
    };
    expect(lines()).toEqual([]);
    writeFileSync(builtFromFile, "\n");
    expect(lines()).toEqual([]);
    writeFileSync(builtFromFile, "ghcr.io/mailcow/postfix:3.10.12-1\n");
    expect(lines()).toEqual([
      `mailcow-postfix-init: built from ghcr.io/mailcow/postfix:3.10.12-1; mailcow's docker-compose.yml is not mounted at ${composeFile}, so a mailcow update that changes the postfix image is not detected (see docker/docker-compose.override.yml)`,
    ]);
    writeFileSync(composeFile, compose("3.10.12-1"));
    expect(lines()).toEqual([
      "mailcow-postfix-init: built from ghcr.io/mailcow/postfix:3.10.12-1, the postfix image mailcow's docker-compose.yml names",
    ]);
    writeFileSync(composeFile, compose("3.10.13-1"));
    expect(lines()).toEqual([
      expect.stringMatching(/^mailcow-postfix-init: warning: this image was built from ghcr\.io\/mailcow\/postfix:3\.10\.12-1, but /),
    ]);
    writeFileSync(composeFile, "services: {}\n");
    expect(lines()).toEqual([
      `mailcow-postfix-init: warning: ${composeFile} names no mailcow/postfix image; cannot tell whether this image (built from ghcr.io/mailcow/postfix:3.10.12-1) is current`,
    ]);
  });

  test("a base accepted unverified at build: a warning first, with its fingerprint and files", () => {
    const dir = tempDir();
    const unverifiedFile = join(dir, "unverified.json");
    const files = { builtFromFile: join(dir, "base-image"), composeFile: join(dir, "compose.yml"), unverifiedFile };
    const log = createMemoryLogger();
    checkBaseImage(files, log);
    expect(log.lines).toEqual([]);
    writeFileSync(unverifiedFile, JSON.stringify({ fingerprint: "0123456789abcdef", files: ["/docker-entrypoint.sh"] }));
    checkBaseImage(files, log);
    expect(log.lines).toEqual([
      expect.stringMatching(
        /^mailcow-postfix-init: warning: the startup logic was not verified for this base image \(base fingerprint 0123456789abcdef, .*: \/docker-entrypoint\.sh\)/,
      ),
    ]);
  });
});
