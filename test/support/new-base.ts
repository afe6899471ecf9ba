import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Engine } from "./docker.ts";
import { REPO } from "./docker-images.ts";
import { FIXTURE_SCRIPT } from "./namespace-root.ts";
import { verifyBase } from "../../src/templates/verify.ts";

// New mailcow postfix bases for update tests, made from the postfix stand-in as a mailcow
// release would ship them: the same startup (a base this release knows), or one whose
// postfix.sh logic changed by one line (its DNS wait), which this release does not know.

/** The one-line logic change, as a Dockerfile line. */
export const DRIFT = "RUN sed -i 's/^  sleep 1$/  sleep 2/' /opt/postfix.sh";

/** `ghcr.io/mailcow/postfix:TAG` built FROM the stand-in plus CHANGE, labelled test.mailcow.version=TAG. */
export async function buildBase(engine: Engine, standIn: string, tag: string, change = ""): Promise<string> {
  const base = `ghcr.io/mailcow/postfix:${tag}`;
  await engine.docker(["build", "--network", "host", "--tag", base, "-"], {
    stdin: `FROM ${standIn}\n${change}\nLABEL test.mailcow.version=${tag}\n`,
  });
  return base;
}

/** The base fingerprint `templates verify` reports for the drifted stand-in. */
export function driftedFingerprint(): string {
  const standIn = join(REPO, "docker", "test", "images", "postfix-base");
  const drifted = readFileSync(FIXTURE_SCRIPT, "utf8").replace(/^ {2}sleep 1$/m, "  sleep 2");
  return verifyBase({
    "postfix.sh": { path: "/opt/postfix.sh", text: drifted },
    "docker-entrypoint.sh": { path: "/docker-entrypoint.sh", text: readFileSync(join(standIn, "docker-entrypoint.sh"), "utf8") },
    "supervisord-program-postfix": {
      path: "/etc/supervisor/supervisord.conf",
      text: readFileSync(join(standIn, "supervisord.conf"), "utf8"),
    },
  }).fingerprint;
}
