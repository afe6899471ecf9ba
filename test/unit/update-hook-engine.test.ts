import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "../support/docker-images.ts";
import { makeTempDir } from "../support/tmp.ts";

// docker/mailcow-postfix-init-hook past the point where it needs a Docker engine (README,
// "Updates"; docs/update-hook.md): the build on mailcow's new base, the switch of
// postfix-mailcow by way of mailcow.conf, the wait for its SMTP banner, the fallback to mailcow's
// own image on a base this release refuses, the summary line, uninstall's way back to stock.
// Run with dash; `docker` is a script that records each call (with the mailcow.conf settings
// compose would read at that moment) and answers from the test's canned outputs. The container
// suite (test/integration/update-hook.test.ts) runs the same paths against a real engine.

const HOOK = join(REPO, "docker", "mailcow-postfix-init-hook");
const BASE = "ghcr.io/mailcow/postfix:3.10.13-1";
const OURS = "local/mailcow-postfix-init";
const DIGEST = `sha256:${"ab".repeat(32)}`;
const RELEASE = Bun.spawnSync(["git", "-C", REPO, "rev-parse", "--short", "HEAD"]).stdout.toString().trim();
const LOCK = new Bun.CryptoHasher("sha256")
  .update(readFileSync(join(REPO, "bun.lock")))
  .digest("hex")
  .slice(0, 12);
const BUN_REF = readFileSync(join(REPO, "Dockerfile.postfix"), "utf8").match(/^ARG BUN_IMAGE=(.*)$/m)![1]!;
/** check --json as it lays out entries[], and another array after it whose objects also have a `name`. */
const CHECK_JSON = `{\n  "schemaVersion": 1,\n  "entries": [\n    {\n      "name": "mail.example.test",\n      "source": "/ssl"\n    },\n    {\n      "name": "a.example.test",\n      "source": "/ssl/a"\n    }\n  ],\n  "sources": [\n    {\n      "name": "not-an-entry.example.test"\n    }\n  ]\n}\n`;

let dir: { path: string; cleanup: () => void };
let mailcow: string;
let conf: string;
let env: Record<string, string>;

/**
 * The fake engine's answers: shell glob over the docker arguments -> shell code that answers (the
 * first match answers; no match: exit 1). Here everything works: nothing of ours built yet, the
 * banner at the second probe.
 */
function engine(): Map<string, string> {
  return new Map([
    [`image inspect --format {{index .Config.Labels "org.opencontainers.image.base.name"}} ${OURS}:*`, "exit 1"],
    [`image inspect ${BASE}`, "exit 0"],
    ["compose --ansi never build postfix-mailcow", `echo "#1 building on $MPI_POSTFIX_TAG$MPI_POSTFIX_STOCK"; exit 0`],
    [
      `image inspect --format {{range .RepoDigests}}{{println .}}{{end}} ${BUN_REF}`,
      `echo "docker.io/${BUN_REF.replace(/:.*/, "")}@${DIGEST}"`,
    ],
    ["compose --ansi never up -d --no-build postfix-mailcow", "exit 0"],
    [
      "compose --ansi never exec -T postfix-mailcow bash -c *",
      `n=$(cat "$D/probes" 2>/dev/null || echo 0); echo $((n + 1)) > "$D/probes"; [ "$n" -ge 1 ] && echo '220 mail.example.test ESMTP Postfix'; exit 0`,
    ],
    [`images --format {{.Repository}}:{{.Tag}} ${OURS}`, `printf '%s\\n' ${OURS}:3.10.13-1 ${OURS}:3.10.13-1-stock ${OURS}:3.9.0-1`],
    ["image rm *", "exit 0"],
    ["tag *", "exit 0"],
    ["compose --ansi never exec -T postfix-mailcow mailcow-postfix-init check --json", `cat "$D/check.json"`],
    ["compose --ansi never config --services", "printf '%s\\n' postfix-mailcow acme-mailcow dovecot-mailcow"],
    ["compose --ansi never up -d postfix-mailcow", "exit 0"],
    ["compose --ansi never up -d --no-build --no-deps acme-mailcow", "exit 0"],
  ]);
}

function installDocker(rules: Map<string, string>): void {
  const cases = [...rules].map(([glob, body]) => `  ${glob.replace(/[ "{}|]/g, (c) => `\\${c}`)}) ${body} ;;`).join("\n");
  const script = `#!/bin/sh
D='${dir.path}'
{ printf '%s\\n' "$*"; case "$*" in *" up "*|*" build "*) printf '  conf: %s\\n' "$(grep '^MPI_' '${conf}' | tr '\\n' ' ')"; esac
  case "$*" in *" build "*) printf '  env: MPI_POSTFIX_TAG=%s MPI_POSTFIX_STOCK=%s MPI_BUN_IMAGE_DIGEST=%s\\n' "$MPI_POSTFIX_TAG" "$MPI_POSTFIX_STOCK" "$MPI_BUN_IMAGE_DIGEST"; esac; } >> "$D/calls"
case "$*" in
${cases}
esac
exit 1
`;
  writeFileSync(join(dir.path, "bin", "docker"), script, { mode: 0o755 });
}

async function hook(...args: string[]) {
  const proc = Bun.spawn(["dash", HOOK, ...args], { cwd: mailcow, env, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { stdout, stderr, exitCode };
}

const calls = () => (existsSync(join(dir.path, "calls")) ? readFileSync(join(dir.path, "calls"), "utf8").split("\n").filter(Boolean) : []);
const commands = () => calls().filter((line) => !line.startsWith("  "));
const settings = () =>
  readFileSync(conf, "utf8")
    .split("\n")
    .filter((line) => line.startsWith("MPI_"));
const hookTemps = () => readdirSync(join(dir.path, "tmp")).filter((name) => name.startsWith("mailcow-postfix-init-hook."));
const say = (text: string) => `mailcow-postfix-init-hook: ${text}\n`;

beforeEach(() => {
  dir = makeTempDir("mpi-hook-engine-");
  mailcow = join(dir.path, "mailcow-dockerized");
  mkdirSync(mailcow);
  mkdirSync(join(dir.path, "bin"));
  mkdirSync(join(dir.path, "tmp"));
  writeFileSync(join(mailcow, "docker-compose.yml"), `services:\n  postfix-mailcow:\n    image: ${BASE}\n`);
  conf = join(mailcow, "mailcow.conf");
  writeFileSync(conf, `MAILCOW_HOSTNAME=mail.example.test\nMAILCOW_POSTFIX_INIT_DIR=${REPO}\n`, { mode: 0o600 });
  copyFileSync(join(REPO, "docker", "docker-compose.override.yml"), join(mailcow, "docker-compose.override.yml"));
  writeFileSync(join(dir.path, "check.json"), CHECK_JSON);
  // mailcow-dockerized is no git checkout here, even when the temp dir lies inside one (a mutation sandbox).
  env = { PATH: `${join(dir.path, "bin")}:/usr/bin:/bin`, TMPDIR: join(dir.path, "tmp"), GIT_CEILING_DIRECTORIES: dir.path };
  installDocker(engine());
});
afterEach(() => dir.cleanup());

const built = (pin: string) =>
  `built from release ${RELEASE} (not pulled: MPI_HOOK_GIT_PULL is not y), build image ${BUN_REF}@${DIGEST} (${pin}), npm packages by bun.lock ${LOCK}`;

describe("run after ./update.sh", () => {
  test("ours is built on the new base, postfix-mailcow switched to it and waited for, older images of ours pruned; the summary says what it serves and what it was built from", async () => {
    const run = await hook("run");
    expect({ exitCode: run.exitCode, stderr: run.stderr }).toEqual({ exitCode: 0, stderr: "" });
    expect(run.stdout).toMatch(
      new RegExp(
        `^mailcow-postfix-init-hook: ours on ${BASE} in \\d+ s \\(banner 1 s after the switch\\); serves mail\\.example\\.test a\\.example\\.test; `,
      ),
    );
    expect(run.stdout).toEndWith(`; ${built("fetched, pinned from now on")}\n`);
    expect(settings()).toEqual([`MPI_BUN_IMAGE_PIN=${BUN_REF}@${DIGEST}`, "MPI_POSTFIX_TAG=3.10.13-1", "MPI_POSTFIX_STOCK="]);
    expect(statSync(conf).mode & 0o777).toBe(0o600);
    expect(calls()).toContain("  env: MPI_POSTFIX_TAG=3.10.13-1 MPI_POSTFIX_STOCK= MPI_BUN_IMAGE_DIGEST=");
    // compose reads the new tag when it starts the container.
    const up = calls().indexOf("compose --ansi never up -d --no-build postfix-mailcow");
    expect(calls()[up + 1]).toContain("MPI_POSTFIX_TAG=3.10.13-1 MPI_POSTFIX_STOCK= ");
    expect(commands().filter((line) => line.startsWith("image rm"))).toEqual([`image rm ${OURS}:3.9.0-1`]);
    expect(commands().filter((line) => line.includes("bash -c"))).toHaveLength(2);
    expect(hookTemps()).toEqual([]);
  });

  test("a later build uses the pinned Bun image; a container still on another image is switched without a rebuild", async () => {
    writeFileSync(conf, `${readFileSync(conf, "utf8")}MPI_BUN_IMAGE_PIN=${BUN_REF}@${DIGEST}\n`);
    const first = await hook("run");
    expect(first.exitCode).toBe(0);
    expect(first.stdout).toEndWith(`; ${built("pinned since its first build")}\n`);
    expect(calls()).toContain(`  env: MPI_POSTFIX_TAG=3.10.13-1 MPI_POSTFIX_STOCK= MPI_BUN_IMAGE_DIGEST=${DIGEST}`);
    expect(commands().some((line) => line.includes("RepoDigests"))).toBe(false);

    // Built and named in mailcow.conf; the container runs something else.
    const rules = engine();
    rules.set(`image inspect --format {{index .Config.Labels "org.opencontainers.image.base.name"}} ${OURS}:*`, `echo ${BASE}`);
    rules.set("compose --ansi never ps -q postfix-mailcow", "echo c0ffee");
    rules.set("inspect --format {{.Image}} c0ffee", "echo sha256:old");
    rules.set(`image inspect --format {{.Id}} ${OURS}:3.10.13-1`, "echo sha256:ours");
    installDocker(rules);
    writeFileSync(join(dir.path, "calls"), "");
    writeFileSync(join(dir.path, "probes"), "1");
    const second = await hook("run");
    expect(second.exitCode).toBe(0);
    expect(second.stdout).toMatch(new RegExp(`^mailcow-postfix-init-hook: ours on ${BASE} in \\d+ s \\(banner 0 s after the switch\\)`));
    expect(commands().some((line) => line.includes(" build "))).toBe(false);
    expect(commands()).toContain("compose --ansi never up -d --no-build postfix-mailcow");

    // Running ours: nothing to do but prune.
    rules.set("inspect --format {{.Image}} c0ffee", "echo sha256:ours");
    installDocker(rules);
    writeFileSync(join(dir.path, "calls"), "");
    const third = await hook("run");
    expect(third).toEqual({ exitCode: 0, stderr: "", stdout: say(`ours on ${BASE} already; nothing to do`) });
    expect(commands().filter((line) => / (build|up) /.test(line))).toEqual([]);
    expect(commands()).toContain(`image rm ${OURS}:3.9.0-1`);
    expect(hookTemps()).toEqual([]);
  });

  test("a Bun image without a registry digest is named by its id and not pinned", async () => {
    const rules = engine();
    rules.set(`image inspect --format {{range .RepoDigests}}{{println .}}{{end}} ${BUN_REF}`, "exit 0");
    rules.set(`image inspect --format {{.Id}} ${BUN_REF}`, "echo sha256:localbuild");
    installDocker(rules);
    const run = await hook("run");
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain(`build image ${BUN_REF} (sha256:localbuild, no registry digest: not pinned)`);
    expect(settings().some((line) => line.startsWith("MPI_BUN_IMAGE_PIN="))).toBe(false);
  });

  test("a base this release refuses: mailcow's own image under our -stock tag, switched to; the build log is kept and named", async () => {
    const reason = `the start script (${"word ".repeat(80).trim()}) is new`;
    // JSON escapes: \" \\ \/ \t unescaped, any other (\n here) left as written.
    const rules = engine();
    rules.set(
      "compose --ansi never build postfix-mailcow",
      `printf '%s\\n' '#9 0.4 mailcow-postfix-init-verdict {"schemaVersion":1,"verdict":"unknown-base","fingerprint":"0123456789abcdef","files":["postfix.sh"],"reason":"${reason.replace("start", 'st\\"art\\\\').replace("script", "sc\\/ript\\tx\\ny")}"}' '#9 ERROR: exit code: 3'; exit 1`,
    );
    installDocker(rules);
    const run = await hook("run");
    expect({ exitCode: run.exitCode, stderr: run.stderr }).toEqual({ exitCode: 0, stderr: "" });
    // As the admin reads it: unescaped, cut at the last word within 300 characters.
    const cut = `the st"art\\ sc/ript\tx\\ny (${"word ".repeat(80).trim()}) is new`.slice(0, 300).replace(/ [^ ]*$/, "");
    const line = run.stdout.match(
      /^mailcow-postfix-init-hook: mailcow's own image and startup on (\S+) in \d+ s, because (.*); build log (\S+)\. Back to ours when a release knows the base: the next \.\/update\.sh, or now: (\S+) run (\S+)\n$/,
    );
    expect(line?.slice(1, 3)).toEqual([BASE, `this release refused it (base fingerprint 0123456789abcdef: ${cut} ...)`]);
    expect(line?.slice(4)).toEqual([HOOK, mailcow]);
    expect(readFileSync(line![3]!, "utf8")).toContain("#9 ERROR: exit code: 3");
    // The build log is all that stays of the run (compose up's own output is not kept).
    expect(hookTemps()).toEqual([line![3]!.split("/").pop()!]);
    expect(commands()).toContain(`tag ${BASE} ${OURS}:3.10.13-1-stock`);
    expect(settings()).toEqual(["MPI_POSTFIX_TAG=3.10.13-1", "MPI_POSTFIX_STOCK=-stock"]);
    const up = calls().indexOf("compose --ansi never up -d --no-build postfix-mailcow");
    expect(calls()[up + 1]).toContain("MPI_POSTFIX_STOCK=-stock");
    expect(commands().filter((each) => each.startsWith("image rm"))).toEqual([`image rm ${OURS}:3.9.0-1`]);
  });

  test("a failed build with MPI_KEEP_OURS_ON_UNKNOWN_BASE=y: postfix-mailcow stays on ours, nothing switched, exit 1", async () => {
    writeFileSync(conf, `${readFileSync(conf, "utf8")}MPI_POSTFIX_TAG=3.9.0-1\nMPI_POSTFIX_STOCK=\nMPI_KEEP_OURS_ON_UNKNOWN_BASE=y\n`);
    const rules = engine();
    rules.set("compose --ansi never build postfix-mailcow", "echo 'no space left on device'; exit 1");
    installDocker(rules);
    const run = await hook("run");
    expect(run.exitCode).toBe(1);
    expect(run.stdout).toMatch(
      new RegExp(
        `^mailcow-postfix-init-hook: not built on ${BASE}: our build failed \\(no space left on device\\); MPI_KEEP_OURS_ON_UNKNOWN_BASE=y: postfix-mailcow stays on ours, built from 3\\.9\\.0-1, the older base; build log \\S+\\n$`,
      ),
    );
    expect(settings()).toEqual(["MPI_POSTFIX_TAG=3.9.0-1", "MPI_POSTFIX_STOCK=", "MPI_KEEP_OURS_ON_UNKNOWN_BASE=y"]);
    expect(commands().filter((line) => / up |^tag /.test(line))).toEqual([]);
  });

  test("compose up failing: its own output, then one error line, exit 1; a base that cannot be pulled: one error line", async () => {
    const rules = engine();
    rules.set("compose --ansi never up -d --no-build postfix-mailcow", "echo 'port 25 is already allocated' >&2; exit 1");
    installDocker(rules);
    const run = await hook("run");
    expect({ exitCode: run.exitCode, stdout: run.stdout, stderr: run.stderr }).toEqual({
      exitCode: 1,
      stdout: "",
      stderr: "port 25 is already allocated\nmailcow-postfix-init-hook: error: docker compose up -d postfix-mailcow failed\n",
    });
    rules.set(`image inspect ${BASE}`, "exit 1");
    rules.set(`pull --quiet ${BASE}`, "exit 1");
    installDocker(rules);
    writeFileSync(join(dir.path, "calls"), "");
    expect((await hook("run")).stderr).toBe(`mailcow-postfix-init-hook: error: cannot pull ${BASE}\n`);
    rules.set(`pull --quiet ${BASE}`, "exit 0");
    rules.set("compose --ansi never up -d --no-build postfix-mailcow", "exit 0");
    installDocker(rules);
    expect((await hook("run")).exitCode).toBe(0);
    expect(commands()).toContain(`pull --quiet ${BASE}`);
  });

  test("install: our blocks, then the run, then acme-mailcow recreated with the override's keys", async () => {
    const install = await hook("install");
    expect(install.exitCode).toBe(0);
    expect(install.stdout.split("\n")[1]).toStartWith(`mailcow-postfix-init-hook: ours on ${BASE} in `);
    expect(commands().at(-1)).toBe("compose --ansi never up -d --no-build --no-deps acme-mailcow");
    const rules = engine();
    rules.set("compose --ansi never up -d --no-build --no-deps acme-mailcow", "echo 'acme: no such image' >&2; exit 1");
    installDocker(rules);
    const again = await hook("install");
    expect({ exitCode: again.exitCode, stderr: again.stderr }).toEqual({
      exitCode: 1,
      stderr: "mailcow-postfix-init-hook: error: docker compose up -d acme-mailcow failed: acme: no such image\n",
    });
    rules.set("compose --ansi never config --services", "printf '%s\\n' postfix-mailcow acme-mailcow-old");
    installDocker(rules);
    writeFileSync(join(dir.path, "calls"), "");
    expect((await hook("install")).exitCode).toBe(0);
    expect(commands().some((line) => line.includes("acme-mailcow"))).toBe(false);
  });
});

describe("prepare, when ./update.sh starts", () => {
  test("ours built on the base the update brings and named in mailcow.conf; nothing is started", async () => {
    const prepare = await hook("prepare");
    expect({ exitCode: prepare.exitCode, stderr: prepare.stderr }).toEqual({ exitCode: 0, stderr: "" });
    expect(prepare.stdout).toMatch(
      new RegExp(
        `^mailcow-postfix-init-hook: ours built on ${BASE} in \\d+ s, before update\\.sh stops the stack: its restart starts it; `,
      ),
    );
    expect(prepare.stdout).toEndWith(`; ${built("fetched, pinned from now on")}\n`);
    expect(settings()).toEqual([`MPI_BUN_IMAGE_PIN=${BUN_REF}@${DIGEST}`, "MPI_POSTFIX_TAG=3.10.13-1", "MPI_POSTFIX_STOCK="]);
    expect(commands().filter((line) => / up | exec /.test(line))).toEqual([]);
    expect(hookTemps()).toEqual([]);
  });

  test("already built from this release: nothing to do; a refused base with MPI_KEEP_OURS_ON_UNKNOWN_BASE=y keeps ours", async () => {
    writeFileSync(conf, `${readFileSync(conf, "utf8")}MPI_POSTFIX_TAG=3.10.13-1\nMPI_POSTFIX_STOCK=\n`);
    const rules = engine();
    rules.set(`image inspect --format {{index .Config.Labels "org.opencontainers.image.base.name"}} ${OURS}:*`, `echo ${BASE}`);
    installDocker(rules);
    expect(await hook("prepare")).toEqual({
      exitCode: 0,
      stderr: "",
      stdout: say(`ours on ${BASE} is built; update.sh's restart keeps it`),
    });
    expect(commands().some((line) => line.includes(" build "))).toBe(false);
    expect(hookTemps()).toEqual([]);

    writeFileSync(conf, `${readFileSync(conf, "utf8")}MPI_KEEP_OURS_ON_UNKNOWN_BASE=y\n`);
    rules.set(
      `image inspect --format {{index .Config.Labels "org.opencontainers.image.base.name"}} ${OURS}:*`,
      "echo ghcr.io/mailcow/postfix:3.9.0-1",
    );
    rules.set("compose --ansi never build postfix-mailcow", "echo 'network unreachable'; exit 1");
    installDocker(rules);
    const kept = await hook("prepare");
    expect(kept.exitCode).toBe(0);
    expect(kept.stdout).toMatch(
      new RegExp(
        `^mailcow-postfix-init-hook: not built on ${BASE}: our build failed \\(network unreachable\\); MPI_KEEP_OURS_ON_UNKNOWN_BASE=y: update\\.sh's restart keeps ours on the older base; build log \\S+\\n$`,
      ),
    );
    expect(settings()).toEqual(["MPI_POSTFIX_TAG=3.10.13-1", "MPI_POSTFIX_STOCK=", "MPI_KEEP_OURS_ON_UNKNOWN_BASE=y"]);
    expect(commands().some((line) => line.startsWith("tag "))).toBe(false);
  });
});

describe("prepare under ./update.sh", () => {
  test("a docker-compose.yml without mailcow's postfix image: one line naming the file looked at, nothing prepared, update.sh goes on (exit 0)", async () => {
    // No git checkout: only the working tree's file was looked at, and only it is named.
    writeFileSync(join(mailcow, "docker-compose.yml"), "services:\n  postfix-mailcow:\n    image: example/other:1\n");
    expect(await hook("prepare")).toEqual({
      exitCode: 0,
      stderr: "",
      stdout: say(`no ghcr.io/mailcow/postfix image named in ${mailcow}/docker-compose.yml: nothing prepared`),
    });
  });

  test("in a git checkout, the line names origin's file and the working tree's, both looked at", async () => {
    writeFileSync(join(mailcow, "docker-compose.yml"), "services:\n  postfix-mailcow:\n    image: example/other:1\n");
    const git = (...args: string[]) =>
      Bun.spawnSync(["git", "-C", mailcow, "-c", "user.name=t", "-c", "user.email=t@t", ...args], { env: { ...env, HOME: dir.path } });
    git("init", "-q", "-b", "master");
    git("add", "docker-compose.yml");
    git("commit", "-qm", "mailcow");
    git("update-ref", "refs/remotes/origin/master", "HEAD");
    expect((await hook("prepare")).stdout).toBe(
      say(`no ghcr.io/mailcow/postfix image named in origin/master or ${mailcow}/docker-compose.yml: nothing prepared`),
    );
  });

  test("with --dev (or -d) update.sh merges nothing: the working tree's image is built on, else origin's", async () => {
    const git = (cwd: string, ...args: string[]) =>
      Bun.spawnSync(["git", "-C", cwd, "-c", "user.name=t", "-c", "user.email=t@t", ...args], { env: { ...env, HOME: dir.path } });
    const upstream = join(dir.path, "upstream");
    mkdirSync(upstream);
    git(upstream, "init", "-q", "-b", "master");
    writeFileSync(join(upstream, "docker-compose.yml"), "services:\n  postfix-mailcow:\n    image: ghcr.io/mailcow/postfix:3.10.14-1\n");
    git(upstream, "add", "-A");
    git(upstream, "commit", "-qm", "newer postfix");
    git(mailcow, "init", "-q", "-b", "master");
    git(mailcow, "add", "docker-compose.yml");
    git(mailcow, "commit", "-qm", "mailcow");
    git(mailcow, "remote", "add", "origin", upstream);
    git(mailcow, "fetch", "-q", "origin");
    // As update.sh runs it: update.sh -> bash pre_update_hook.sh -> the hook.
    writeFileSync(join(mailcow, "pre_update_hook.sh"), `#!/bin/bash\n'${HOOK}' prepare '${mailcow}'\n`);
    writeFileSync(join(mailcow, "update.sh"), "#!/bin/bash\nbash pre_update_hook.sh\n");
    const update = (...args: string[]) => {
      const run = Bun.spawnSync(["bash", "./update.sh", ...args], { cwd: mailcow, env });
      return { stdout: run.stdout.toString(), stderr: run.stderr.toString() };
    };
    for (const dev of ["--dev", "-d"]) expect(update(dev).stdout).toStartWith(`mailcow-postfix-init-hook: ours built on ${BASE} in `);
    expect(update().stderr).toBe("mailcow-postfix-init-hook: error: cannot pull ghcr.io/mailcow/postfix:3.10.14-1\n");
  });
});

test("remove where there is no block of ours: one line per hook file, exit 0", async () => {
  writeFileSync(join(mailcow, "post_update_hook.sh"), "#!/bin/bash\necho the admin's\n");
  expect(await hook("remove")).toEqual({
    exitCode: 0,
    stderr: "",
    stdout: `${say(`no block of ours in ${mailcow}/pre_update_hook.sh; nothing to remove`)}${say(`no block of ours in ${mailcow}/post_update_hook.sh; nothing to remove`)}`,
  });
  expect(readFileSync(join(mailcow, "post_update_hook.sh"), "utf8")).toBe("#!/bin/bash\necho the admin's\n");
});

test("uninstall: stock postfix-mailcow started, acme-mailcow recreated without our keys, every image of ours removed", async () => {
  writeFileSync(conf, `${readFileSync(conf, "utf8")}MPI_POSTFIX_TAG=3.10.13-1\nMPI_POSTFIX_STOCK=\n`);
  const uninstall = await hook("uninstall");
  expect(uninstall).toEqual({
    exitCode: 0,
    stderr: "",
    stdout: `${say(`no block of ours in ${mailcow}/pre_update_hook.sh; nothing to remove`)}${say(`no block of ours in ${mailcow}/post_update_hook.sh; nothing to remove`)}${say(`stock: postfix-mailcow runs ${BASE} with mailcow's own startup; our hook blocks, override (acme-mailcow's BASH_ENV with it), settings and images are gone`)}`,
  });
  expect(settings()).toEqual([]);
  expect(commands().filter((line) => / up |image rm/.test(line))).toEqual([
    "compose --ansi never up -d postfix-mailcow",
    "compose --ansi never up -d --no-build --no-deps acme-mailcow",
    `image rm ${OURS}:3.10.13-1`,
    `image rm ${OURS}:3.10.13-1-stock`,
    `image rm ${OURS}:3.9.0-1`,
  ]);
  // compose started stock postfix-mailcow from a conf without our settings and without the override.
  const up = calls().indexOf("compose --ansi never up -d postfix-mailcow");
  expect(calls()[up + 1]).toBe("  conf: ");
  expect(existsSync(join(mailcow, "docker-compose.override.yml"))).toBe(false);
});
