import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "../support/docker-images.ts";
import { MAILCOW_GIT } from "../support/mailcow-checkout.ts";
import { makeTempDir } from "../support/tmp.ts";

// docker/acme-bash-env.sh with mailcow's REAL reload-configurations.sh (from MPI_MAILCOW_GIT
// at run time), run by bash as acme runs it, with a `curl` that answers as dockerapi does and
// records every call: which containers get restarted, which get an exec. The update suite
// runs the same against a real engine and a measured Postfix.

const BASH_ENV = join(REPO, "docker", "acme-bash-env.sh");
const POSTFIX_ID = "c0ffee03";
let dir: { path: string; cleanup: () => void };
let srv: string;
let calls: string;
let stock = "";

const containers = {
  aaaa01: {
    Id: "aaaa01",
    Config: { Labels: { "com.docker.compose.service": "nginx-mailcow", "com.docker.compose.project": "mailcowdockerized" } },
  },
  bbbb02: {
    Id: "bbbb02",
    Config: { Labels: { "com.docker.compose.service": "dovecot-mailcow", "com.docker.compose.project": "mailcowdockerized" } },
  },
};

/** dockerapi's answers, the postfix-mailcow container described by POSTFIX. */
function fakeCurl(postfix: object): string {
  const list = JSON.stringify({ ...containers, [POSTFIX_ID]: postfix });
  return `#!/bin/sh
url=""; for arg in "$@"; do case "$arg" in https://*) url=$arg ;; esac; done
echo "$url" >> '${calls}'
case "$url" in
  */containers/json) printf '%s' '${list}' ;;
  */containers/${POSTFIX_ID}/json) printf '%s' '${JSON.stringify(postfix)}' ;;
  */exec) echo '{"type": "success", "msg": "command completed successfully"}' ;;
  */restart) echo '{"type": "success", "msg": "command completed successfully"}' ;;
esac
`;
}

const ours = (watch: string) => ({
  Id: POSTFIX_ID,
  Config: {
    Labels: {
      "com.docker.compose.service": "postfix-mailcow",
      "com.docker.compose.project": "mailcowdockerized",
      "org.opencontainers.image.title": "mailcow-postfix-init",
    },
    Env: [`MPI_WATCH=${watch}`],
  },
});
const mailcows = {
  Id: POSTFIX_ID,
  Config: {
    Labels: { "com.docker.compose.service": "postfix-mailcow", "com.docker.compose.project": "mailcowdockerized" },
    Env: ["MPI_WATCH=y"],
  },
};

/** reload-configurations.sh as acme.sh runs it after a renewal; the dockerapi calls it made. */
function renewal(postfix: object, env: Record<string, string> = {}) {
  const bin = join(dir.path, "bin");
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, "curl"), fakeCurl(postfix), { mode: 0o755 });
  writeFileSync(calls, "");
  const ran = Bun.spawnSync([join(srv, "reload-configurations.sh")], {
    env: {
      PATH: `${bin}:/usr/bin:/bin`,
      BASH_ENV,
      MPI_ACME_SRV: srv,
      COMPOSE_PROJECT_NAME: "mailcowdockerized",
      CERT_AMOUNT_CHANGED: "0",
      TMPDIR: dir.path,
      ...env,
    },
  });
  const posts = readFileSync(calls, "utf8")
    .split("\n")
    .filter((url) => /\/(exec|restart)$/.test(url))
    .map((url) => url.replace(/^.*\/containers\//, ""));
  return { stdout: ran.stdout.toString(), stderr: ran.stderr.toString(), exitCode: ran.exitCode, posts };
}

/** The line acme's log starts with (bash reads BASH_ENV before acme.sh). */
function acmeStartLine(env: Record<string, string> = {}) {
  return Bun.spawnSync(["bash", "-c", ":", join(srv, "acme.sh")], {
    env: { PATH: "/usr/bin:/bin", BASH_ENV, MPI_ACME_SRV: srv, ...env },
  }).stderr.toString();
}

beforeEach(async () => {
  dir = makeTempDir("mpi-acme-");
  srv = join(dir.path, "srv");
  mkdirSync(srv);
  calls = join(dir.path, "calls");
  if (MAILCOW_GIT && !stock)
    stock = Bun.spawnSync(["git", "-C", MAILCOW_GIT, "show", "HEAD:data/Dockerfiles/acme/reload-configurations.sh"]).stdout.toString();
  writeFileSync(join(srv, "reload-configurations.sh"), stock, { mode: 0o755 });
});
afterEach(() => dir.cleanup());

if (!MAILCOW_GIT) console.warn("acme-bash-env.test.ts skipped: set MPI_MAILCOW_GIT to a mailcow-dockerized git repository");

describe.skipIf(!MAILCOW_GIT)("acme-mailcow's BASH_ENV with mailcow's reload-configurations.sh", () => {
  test("ours with its watcher: Postfix reloaded through dockerapi's exec, never restarted; nginx reloaded and Dovecot restarted as before", () => {
    const ran = renewal(ours("y"));
    expect(ran.exitCode).toBe(0);
    expect(ran.posts).toEqual(["aaaa01/exec", "bbbb02/restart", `${POSTFIX_ID}/exec`]);
    expect(ran.stdout).toContain("Postfix runs mailcow-postfix-init's watcher: reloading, not restarting\nReloading Postfix...");
    expect(acmeStartLine()).toBe(
      "mailcow-postfix-init: after a renewal acme reloads Postfix instead of restarting postfix-mailcow while it runs mailcow-postfix-init's watcher\n",
    );
    // The copy it ran is gone.
    expect(
      Bun.spawnSync(["sh", "-c", `ls ${dir.path} | grep -c mpi-reload || true`])
        .stdout.toString()
        .trim(),
    ).toBe("0");
  });

  test("mailcow's own image under our name (unknown base) or our watcher off in postfix-mailcow: the restart, as stock", () => {
    expect(renewal(mailcows).posts).toEqual(["aaaa01/exec", "bbbb02/restart", `${POSTFIX_ID}/restart`]);
    expect(renewal(ours("n")).posts).toEqual(["aaaa01/exec", "bbbb02/restart", `${POSTFIX_ID}/restart`]);
  });

  test("MPI_WATCH=n in acme: the script runs untouched; one line says so", () => {
    const ran = renewal(ours("y"), { MPI_WATCH: "n" });
    expect(ran.posts).toEqual(["aaaa01/exec", "bbbb02/restart", `${POSTFIX_ID}/restart`]);
    expect(ran.stdout).not.toContain("mailcow-postfix-init");
    expect(acmeStartLine({ MPI_WATCH: "n" })).toBe(
      "mailcow-postfix-init: MPI_WATCH=n: after a renewal acme restarts postfix-mailcow, as stock\n",
    );
  });

  test("a reload-configurations.sh this release does not know: left as it is (Postfix restarted), one line at acme's start saying so", () => {
    const changed = `${stock}\n# a later mailcow release\n`;
    writeFileSync(join(srv, "reload-configurations.sh"), changed, { mode: 0o755 });
    expect(renewal(ours("y")).posts).toEqual(["aaaa01/exec", "bbbb02/restart", `${POSTFIX_ID}/restart`]);
    const sum = new Bun.CryptoHasher("sha256").update(changed).digest("hex");
    expect(acmeStartLine()).toBe(
      `mailcow-postfix-init: ${srv}/reload-configurations.sh (sha256 ${sum}) is not one this release knows: left as it is, acme restarts postfix-mailcow after a renewal\n`,
    );
  });

  test("any other script of acme's: nothing printed, nothing changed", () => {
    const other = Bun.spawnSync(["bash", "-c", "echo ran", join(srv, "obtain-certificate.sh")], {
      env: { PATH: "/usr/bin:/bin", BASH_ENV, MPI_ACME_SRV: srv },
    });
    expect({ stdout: other.stdout.toString(), stderr: other.stderr.toString() }).toEqual({ stdout: "ran\n", stderr: "" });
  });
});
