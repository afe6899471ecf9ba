import { afterAll, afterEach, beforeEach, describe, expect, test } from "bun:test";
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { REPO } from "../support/docker-images.ts";
import { makeTempDir } from "../support/tmp.ts";
import { runCli } from "../support/cli.ts";
import { mailTrees } from "../support/fixture.ts";
import { cleanupBuiltBinary, runBinary } from "../support/binary.ts";
import { FIXTURE_SCRIPT } from "../support/namespace-root.ts";

// docker/mailcow-postfix-init-hook's edits of mailcow's pre_update_hook.sh and
// post_update_hook.sh, run with dash (a strict POSIX sh) and no Docker engine: a `docker` that
// always fails stands in, so `install` adds its blocks and then stops at the build with one
// error line. The container suites run the same script against a real engine.

const HOOK = join(REPO, "docker", "mailcow-postfix-init-hook");
let dir: { path: string; cleanup: () => void };
let mailcow: string;
let env: Record<string, string>;

async function hook(...args: string[]) {
  const proc = Bun.spawn(["dash", HOOK, ...args], { cwd: mailcow, env, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { stdout, stderr, exitCode };
}
const hookFile = () => join(mailcow, "post_update_hook.sh");
const preHookFile = () => join(mailcow, "pre_update_hook.sh");
const git = (...args: string[]) =>
  Bun.spawnSync(["git", "-C", mailcow, ...args], { env: { ...env, GIT_CONFIG_NOSYSTEM: "1", HOME: dir.path } });

beforeEach(() => {
  dir = makeTempDir("mpi-hook-");
  mailcow = join(dir.path, "mailcow-dockerized");
  mkdirSync(mailcow);
  writeFileSync(join(mailcow, "docker-compose.yml"), "services:\n  postfix-mailcow:\n    image: ghcr.io/mailcow/postfix:3.10.13-1\n");
  writeFileSync(join(mailcow, "mailcow.conf"), `MAILCOW_HOSTNAME=mail.example.test\nMAILCOW_POSTFIX_INIT_DIR=${REPO}\n`, { mode: 0o600 });
  copyFileSync(join(REPO, "docker", "docker-compose.override.yml"), join(mailcow, "docker-compose.override.yml"));
  const bin = join(dir.path, "bin");
  mkdirSync(bin);
  writeFileSync(join(bin, "docker"), "#!/bin/sh\necho 'no engine here' >&2\nexit 1\n", { mode: 0o755 });
  env = { PATH: `${bin}:/usr/bin:/bin`, TMPDIR: dir.path };
});
afterEach(() => dir.cleanup());

describe("mailcow-postfix-init-hook install/remove", () => {
  test("no hooks yet: new executable bash hooks with our blocks (prepare before, run after); remove deletes both files again", async () => {
    const install = await hook("install");
    expect(install.stdout).toBe(
      `mailcow-postfix-init-hook: installed in ${preHookFile()} and post_update_hook.sh: every ./update.sh starts with \`${HOOK} prepare ${mailcow}\` and ends with \`${HOOK} run ${mailcow}\`\n`,
    );
    expect(install.stderr).toEndWith("\nmailcow-postfix-init-hook: error: cannot pull ghcr.io/mailcow/postfix:3.10.13-1\n");
    expect(readFileSync(preHookFile(), "utf8")).toBe(
      `#!/bin/bash\n# >>> mailcow-postfix-init >>>\n'${HOOK}' prepare '${mailcow}' || true\n# <<< mailcow-postfix-init <<<\n`,
    );
    expect(readFileSync(hookFile(), "utf8")).toBe(
      `#!/bin/bash\n# >>> mailcow-postfix-init >>>\n'${HOOK}' run '${mailcow}'\n# <<< mailcow-postfix-init <<<\n`,
    );
    expect(statSync(preHookFile()).mode & 0o777).toBe(0o755);
    expect(statSync(hookFile()).mode & 0o777).toBe(0o755);
    expect((await hook("remove")).stdout).toBe(
      `mailcow-postfix-init-hook: removed ${preHookFile()} (it held only our block)\nmailcow-postfix-init-hook: removed ${hookFile()} (it held only our block)\n`,
    );
    expect(existsSync(preHookFile())).toBe(false);
    expect(existsSync(hookFile())).toBe(false);
  });

  test("an admin's pre_update_hook.sh: ours after its shebang, once; it still runs when prepare fails; remove restores it byte for byte, mode kept", async () => {
    const admins = "#!/usr/bin/env bash\n# stop the backup timer\nsystemctl stop backup.timer || true\n";
    writeFileSync(preHookFile(), admins, { mode: 0o700 });
    await hook("install");
    await hook("install");
    const lines = readFileSync(preHookFile(), "utf8").split("\n");
    expect(lines.slice(0, 4)).toEqual([
      "#!/usr/bin/env bash",
      "# >>> mailcow-postfix-init >>>",
      `'${HOOK}' prepare '${mailcow}' || true`,
      "# <<< mailcow-postfix-init <<<",
    ]);
    expect(lines.slice(4).join("\n")).toBe(admins.split("\n").slice(1).join("\n"));
    expect(statSync(preHookFile()).mode & 0o777).toBe(0o700);
    await hook("remove");
    expect(readFileSync(preHookFile(), "utf8")).toBe(admins);
    expect(statSync(preHookFile()).mode & 0o777).toBe(0o700);
  });

  test("prepare reads the postfix image of origin's docker-compose.yml (what update.sh's merge brings), else the working tree's; update.sh goes on whatever it meets", async () => {
    const compose = (tag: string) => `services:\n  postfix-mailcow:\n    image: ghcr.io/mailcow/postfix:${tag}\n`;
    const upstream = join(dir.path, "upstream");
    mkdirSync(upstream);
    const inUpstream = (...args: string[]) => Bun.spawnSync(["git", "-C", upstream, ...args], { env: { ...env, HOME: dir.path } });
    inUpstream("init", "-q", "-b", "master");
    writeFileSync(join(upstream, "docker-compose.yml"), compose("3.10.14-1"));
    inUpstream("add", "-A");
    inUpstream("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "newer postfix");
    git("init", "-q", "-b", "master");
    git("add", "docker-compose.yml");
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "mailcow");
    git("remote", "add", "origin", upstream);
    expect((await hook("prepare")).stderr).toEndWith("\nmailcow-postfix-init-hook: error: cannot pull ghcr.io/mailcow/postfix:3.10.13-1\n");
    git("fetch", "-q", "origin");
    expect((await hook("prepare")).stderr).toEndWith("\nmailcow-postfix-init-hook: error: cannot pull ghcr.io/mailcow/postfix:3.10.14-1\n");
    // As update.sh runs it: the block's `|| true`, then update.sh's next step.
    await hook("install");
    const ran = Bun.spawnSync(["bash", "-c", `bash pre_update_hook.sh; echo "update.sh goes on"`], { cwd: mailcow, env });
    expect(ran.stdout.toString()).toBe("update.sh goes on\n");
    expect(readFileSync(join(mailcow, "mailcow.conf"), "utf8")).not.toContain("MPI_POSTFIX_TAG");
  });

  test("an admin's hook: ours goes after the shebang (before an `exit`), once however often install runs; remove restores it byte for byte", async () => {
    const admins = "#!/bin/bash\nset -e\necho backup done\nexit 0\n";
    writeFileSync(hookFile(), admins, { mode: 0o750 });
    await hook("install");
    await hook("install");
    const lines = readFileSync(hookFile(), "utf8").split("\n");
    expect(lines.slice(0, 2)).toEqual(["#!/bin/bash", "# >>> mailcow-postfix-init >>>"]);
    expect(lines.slice(4)).toEqual(["set -e", "echo backup done", "exit 0", ""]);
    expect(lines.filter((line) => line.includes(" run ")).length).toBe(1);
    expect(statSync(hookFile()).mode & 0o777).toBe(0o750);
    // The installed hook runs ours, then the admin's lines, under bash as update.sh runs it.
    const ran = Bun.spawnSync(["bash", hookFile()], { cwd: mailcow, env });
    expect(ran.stdout.toString()).toBe("backup done\n");
    expect(ran.stderr.toString()).toContain("mailcow-postfix-init-hook: error: cannot pull");
    expect(ran.exitCode).toBe(0);
    expect(readdirSync(mailcow).filter((name) => name.startsWith("."))).toEqual([]); // no temp file left
    const removed = await hook("remove");
    expect({ exitCode: removed.exitCode, stdout: removed.stdout }).toEqual({
      exitCode: 0,
      stdout: `mailcow-postfix-init-hook: removed ${preHookFile()} (it held only our block)\nmailcow-postfix-init-hook: removed our block from ${hookFile()}; the rest of it is kept\n`,
    });
    expect(readFileSync(hookFile(), "utf8")).toBe(admins);
    expect(statSync(hookFile()).mode & 0o777).toBe(0o750); // the admin's own mode, not mktemp's 0600
    // A line that only mentions our marker is not our block.
    writeFileSync(hookFile(), `${admins}echo '# >>> mailcow-postfix-init >>>'\n`, { mode: 0o750 });
    expect((await hook("remove")).stdout).toBe(
      `mailcow-postfix-init-hook: no block of ours in ${preHookFile()}; nothing to remove\nmailcow-postfix-init-hook: no block of ours in ${hookFile()}; nothing to remove\n`,
    );
    writeFileSync(hookFile(), admins, { mode: 0o750 });
    expect((await hook("remove")).stdout).toBe(
      `mailcow-postfix-init-hook: no block of ours in ${preHookFile()}; nothing to remove\nmailcow-postfix-init-hook: no block of ours in ${hookFile()}; nothing to remove\n`,
    );
  });

  test("a post block without the pre block (an install by a release before it): run says how to add it, first", async () => {
    writeFileSync(hookFile(), `#!/bin/bash\n# >>> mailcow-postfix-init >>>\n'${HOOK}' run '${mailcow}'\n# <<< mailcow-postfix-init <<<\n`, {
      mode: 0o755,
    });
    expect((await hook("run")).stdout).toBe(
      `mailcow-postfix-init-hook: ${mailcow}/pre_update_hook.sh has no block of ours: each ./update.sh restarts postfix-mailcow twice until \`${HOOK} install\` adds it\n`,
    );
    await hook("install");
    expect((await hook("run")).stdout).toBe("");
  });

  test("mailcow.conf keeps its mode; a directory without docker-compose.yml or a bad command is one error line", async () => {
    await hook("install");
    expect(statSync(join(mailcow, "mailcow.conf")).mode & 0o777).toBe(0o600);
    const elsewhere = await hook("run", dir.path);
    expect({ exitCode: elsewhere.exitCode, stderr: elsewhere.stderr }).toEqual({
      exitCode: 1,
      stderr: `mailcow-postfix-init-hook: error: ${dir.path} has no docker-compose.yml: give mailcow's directory (e.g. /opt/mailcow-dockerized)\n`,
    });
    writeFileSync(join(mailcow, "mailcow.conf"), "MAILCOW_HOSTNAME=mail.example.test\n");
    expect((await hook("run")).stderr).toBe(
      `mailcow-postfix-init-hook: error: the override builds from a directory that does not exist (MAILCOW_POSTFIX_INIT_DIR, default ../mailcow-postfix-init), but this hook belongs to ${REPO}: run that clone's hook, or set MAILCOW_POSTFIX_INIT_DIR=${REPO} in mailcow.conf\n`,
    );
    rmSync(join(mailcow, "docker-compose.override.yml"));
    expect((await hook("run")).stderr).toBe(
      `mailcow-postfix-init-hook: error: ${mailcow}/docker-compose.override.yml does not name local/mailcow-postfix-init: copy the override there first (README, Install step 2)\n`,
    );
    const unknown = await hook("update");
    expect(unknown.stderr).toBe("mailcow-postfix-init-hook: error: unknown command 'update': install, prepare, run, remove or uninstall\n");
  });

  test("uninstall of an unchanged install: our block, the override and our settings go (mailcow.conf keeps mode and owner), then compose up", async () => {
    await hook("install");
    const conf = join(mailcow, "mailcow.conf");
    writeFileSync(
      conf,
      `${readFileSync(conf, "utf8")}MPI_POSTFIX_TAG=3.10.13-1\nMPI_POSTFIX_STOCK=\nMPI_BUN_IMAGE_PIN=oven/bun@sha256:00\nMPI_WATCH=n\n`,
    );
    chmodSync(conf, 0o640);
    chownSync(conf, 1000, 1000); // the admin's checkout
    const uninstall = await hook("uninstall");
    // The stand-in docker fails: the last step, bringing stock back up, says so.
    expect({ exitCode: uninstall.exitCode, stderr: uninstall.stderr }).toEqual({
      exitCode: 1,
      stderr: "mailcow-postfix-init-hook: error: docker compose up -d postfix-mailcow failed: run it to see why\n",
    });
    expect(existsSync(hookFile())).toBe(false);
    expect(existsSync(preHookFile())).toBe(false);
    expect(existsSync(join(mailcow, "docker-compose.override.yml"))).toBe(false);
    expect(readFileSync(conf, "utf8")).toBe(`MAILCOW_HOSTNAME=mail.example.test\nMAILCOW_POSTFIX_INIT_DIR=${REPO}\nMPI_WATCH=n\n`);
    expect({ mode: statSync(conf).mode & 0o777, uid: statSync(conf).uid, gid: statSync(conf).gid }).toEqual({
      mode: 0o640,
      uid: 1000,
      gid: 1000,
    });
    expect(readdirSync(mailcow).filter((name) => name.startsWith("."))).toEqual([]);
  });

  test("uninstall leaves a merged override (and everything else) alone, with one error line", async () => {
    await hook("install");
    const merged = `${readFileSync(join(mailcow, "docker-compose.override.yml"), "utf8")}  ofelia-mailcow: # yours\n    environment:\n      - TZ=Europe/Berlin\n`;
    writeFileSync(join(mailcow, "docker-compose.override.yml"), merged);
    const before = readFileSync(hookFile(), "utf8");
    const uninstall = await hook("uninstall");
    expect({ exitCode: uninstall.exitCode, stderr: uninstall.stderr }).toEqual({
      exitCode: 1,
      stderr: `mailcow-postfix-init-hook: error: ${mailcow}/docker-compose.override.yml holds more than ours: take its postfix-mailcow keys of ours out by hand (README, Merging into an existing override), then run uninstall again\n`,
    });
    expect(readFileSync(hookFile(), "utf8")).toBe(before);
    expect(readFileSync(join(mailcow, "docker-compose.override.yml"), "utf8")).toBe(merged);
  });
});

// The summary line's names come from `check --json` (documented in docs/map-rules.md), read by
// the awk program in the hook's served_names: run here, as the hook has it, on the document
// the binary prints for a real tree. A renamed field or a changed layout fails this test.
describe("mailcow-postfix-init-hook reads check --json", () => {
  const mailTree = mailTrees("mpi-hook-json-");
  const hookAwk = () => {
    const text = readFileSync(HOOK, "utf8");
    const program = text.slice(text.indexOf("served_names() {")).match(/\| awk '([\s\S]*?)'\n\}/)?.[1];
    if (!program) throw new Error("the hook's served_names has no awk program");
    return program;
  };
  const namesOf = (json: string) => Bun.spawnSync(["awk", hookAwk()], { stdin: Buffer.from(json) }).stdout.toString();

  test("the names of entries[], in the document's order, space-separated: exactly what the JSON holds", async () => {
    const { sslDir } = mailTree({
      certificateDirs: { "example.org": ["example.org", "www.example.org"], "other.example": ["other.example"] },
    });
    const result = await runCli(["check", "--json", "--ssl-dir", sslDir, "--hostname", "mail.example.test"]);
    const report = JSON.parse(result.stdout);
    expect(report.schemaVersion).toBe(1);
    const names = report.entries.map((entry: { name: string }) => entry.name);
    expect(names.length).toBeGreaterThan(2);
    expect(namesOf(result.stdout)).toBe(names.join(" "));
  });

  test("another schema version: no names (the summary then says to run check), never wrong ones", async () => {
    const { sslDir } = mailTree({ certificateDirs: { "example.org": ["example.org"] } });
    const result = await runCli(["check", "--json", "--ssl-dir", sslDir, "--hostname", "mail.example.test"]);
    expect(namesOf(result.stdout.replace('"schemaVersion": 1,', '"schemaVersion": 2,'))).toBe("");
  });
});

// A refused base reaches the hook through `templates verify`'s verdict line (docs/known-bases.md),
// not its wording for people: `prepare`, with a docker whose `compose build` prints a build log
// made of the compiled binary's own output on a drifted base and fails.
describe("mailcow-postfix-init-hook reads the build's verdict line", () => {
  const STAND_IN = join(REPO, "docker", "test", "images", "postfix-base");
  afterAll(cleanupBuiltBinary);

  /** The binary's `templates verify` on the stand-in base with postfix.sh's DNS wait changed to LINE. */
  function refusal(line: string) {
    const script = join(dir.path, "postfix.sh");
    writeFileSync(script, readFileSync(FIXTURE_SCRIPT, "utf8").replace(/^ {2}sleep 1$/m, line));
    const args = [
      "templates",
      "verify",
      "--from",
      script,
      "--entrypoint",
      join(STAND_IN, "docker-entrypoint.sh"),
      "--supervisord",
      join(STAND_IN, "supervisord.conf"),
      "--record",
      join(dir.path, "unverified.json"),
    ];
    return runBinary(args, { PATH: "/usr/bin:/bin" });
  }

  /** prepare with a `docker compose build` that prints LOG and fails as BuildKit does. */
  async function prepareWithBuildLog(log: string) {
    writeFileSync(join(dir.path, "build.log"), log);
    const docker = `#!/bin/sh\ncase "$1" in\n  image|tag) exit 0 ;;\n  compose) cat '${join(dir.path, "build.log")}'; exit 1 ;;\nesac\nexit 1\n`;
    writeFileSync(join(dir.path, "bin", "docker"), docker, { mode: 0o755 });
    return hook("prepare");
  }
  const buildKit = (output: string) =>
    `#9 [stage-1 4/7] RUN mkdir -p /usr/local/share/mailcow-postfix-init   && /usr/local/bin/mailcow-postfix-init templates extract ...\n${output
      .trimEnd()
      .split("\n")
      .map((line) => `#9 0.412 ${line}`)
      .join(
        "\n",
      )}\n#9 ERROR: process "/bin/sh -c mkdir -p ..." did not complete successfully: exit code: 3\nfailed to solve: process "/bin/sh -c mkdir -p ..." did not complete successfully: exit code: 3\n`;
  const notBuilt = (because: string) =>
    `mailcow-postfix-init-hook: not built on ghcr.io/mailcow/postfix:3.10.13-1, because ${because}: update.sh's restart starts mailcow's own image and startup on it; build log `;

  test("the binary prints one verdict line on stdout and exits 3; the hook reports its fingerprint and reason, quotes and backslashes unescaped", async () => {
    const refused = refusal(String.raw`  echo "waiting \ for DNS"; sleep 2`);
    expect(refused.exitCode).toBe(3);
    expect(refused.stdout).toMatch(
      /^mailcow-postfix-init-verdict \{"schemaVersion":1,"verdict":"unknown-base","fingerprint":"[0-9a-f]{16}","files":\["[^"]*postfix\.sh"\],"reason":".*"\}\n$/,
    );
    const verdict = JSON.parse(refused.stdout.slice("mailcow-postfix-init-verdict ".length));
    expect(verdict.reason).toContain(String.raw`(${"`"}echo "waiting \ for DNS"; sleep 2${"`"}) is new or changed`);
    const prepared = await prepareWithBuildLog(buildKit(`${refused.stdout}${refused.stderr}`));
    expect(prepared.stdout).toStartWith(notBuilt(`this release refused it (base fingerprint ${verdict.fingerprint}: ${verdict.reason})`));
    expect(readFileSync(join(mailcow, "mailcow.conf"), "utf8")).toEndWith("MPI_POSTFIX_TAG=3.10.13-1\nMPI_POSTFIX_STOCK=-stock\n");
  });

  test("other wording for people changes nothing; without the verdict line a failed build is our build failing, whatever it says", async () => {
    const refused = refusal("  sleep 2");
    const verdict = JSON.parse(refused.stdout.slice("mailcow-postfix-init-verdict ".length));
    const reworded = "mailcow-postfix-init: error: refusing this base, see the verdict line\n";
    expect((await prepareWithBuildLog(buildKit(`${refused.stdout}${reworded}`))).stdout).toStartWith(
      notBuilt(`this release refused it (base fingerprint ${verdict.fingerprint}: ${verdict.reason})`),
    );
    expect((await prepareWithBuildLog(buildKit(refused.stderr))).stdout).toStartWith(
      notBuilt(`our build failed (failed to solve: process "/bin/sh -c mkdir -p ..." did not complete successfully: exit code: 3)`),
    );
  });
});
