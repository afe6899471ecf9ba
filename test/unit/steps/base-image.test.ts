import { describe, expect, test } from "bun:test";
import { describeBaseImage, postfixImageInCompose } from "../../../src/steps/base-image.ts";

const compose = (tag: string) =>
  `services:\n    postfix-tlspol-mailcow:\n      image: ghcr.io/mailcow/postfix-tlspol:1.8.22\n    postfix-mailcow:\n      image: ghcr.io/mailcow/postfix:${tag}\n      depends_on:\n`;
const FILE = "/etc/mailcow-postfix-init/mailcow-compose.yml";

describe("postfixImageInCompose", () => {
  test("finds the postfix image, not postfix-tlspol", () => {
    expect(postfixImageInCompose(compose("3.10.12-1"))).toBe("ghcr.io/mailcow/postfix:3.10.12-1");
    expect(postfixImageInCompose('      image: "ghcr.io/mailcow/postfix:3.10.13-1" # pinned\n')).toBe("ghcr.io/mailcow/postfix:3.10.13-1");
    expect(postfixImageInCompose("services: {}\n")).toBeUndefined();
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
