import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DOCKER, run, type Engine, type RunResult } from "./docker.ts";

// A mailcow checkout that mailcow's REAL update.sh can update, offline: mailcow's own
// update.sh, _modules and .gitignore (taken at run time from a mailcow-dockerized git
// repository, never stored in this one) on top of the test's small compose project, committed
// on `master`; its `origin` is mailcow's GitHub URL, which git's url.<bare repo>.insteadOf (in
// a private GIT_CONFIG_GLOBAL) turns into a local bare repository, so update.sh's own URL check
// passes and its fetches stay on this machine. Upstream commits are made in a second clone of
// that bare repository and pushed.

export const MAILCOW_URL = "https://github.com/mailcow/mailcow-dockerized";
/** The mailcow-dockerized repository (a path git can clone) mailcow's files come from. */
export const MAILCOW_GIT = process.env.MPI_MAILCOW_GIT;
/** What update.sh needs of mailcow's tree besides the compose project. */
const MAILCOW_FILES = ["update.sh", "_modules", ".gitignore"];

export interface Checkout {
  dir: string;
  upstream: string;
  /** Environment for git and for update.sh (insteadOf, the engine, the shims first in PATH). */
  env: Record<string, string>;
  git(args: readonly string[], dir?: string): Promise<RunResult>;
  /** The commit mailcow's files were first committed as (before any hook or update). */
  root: string;
}

/**
 * Shims first in PATH, for update.sh only (and what it runs): `docker pull` of an image that is
 * present answers as a pull would, `docker compose pull` does nothing (no registry is
 * reachable); `curl` fails as offline (its ASN check); `ip -6` shows no IPv6 (so it never
 * probes the internet over IPv6, edits /etc/docker/daemon.json or restarts Docker);
 * `iptables`/`ip6tables` list no rules. Everything else goes to the real tools.
 */
function writeShims(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const shims: Record<string, string> = {
    docker: `#!/bin/sh
if [ "$1" = pull ] && [ $# -eq 2 ] && ${DOCKER} image inspect "$2" >/dev/null 2>&1; then echo "$2: present (offline test)"; exit 0; fi
if [ "$1" = compose ] && [ "$2" = pull ]; then echo "compose pull skipped (offline test)"; exit 0; fi
exec ${DOCKER} "$@"
`,
    curl: `#!/bin/sh\nprintf 000\nexit 7\n`,
    ip: `#!/bin/sh\ncase " $* " in *" -6 "*) exit 0 ;; esac\nexec /sbin/ip "$@"\n`,
    iptables: `#!/bin/sh\nexit 0\n`,
    ip6tables: `#!/bin/sh\nexit 0\n`,
  };
  for (const [name, text] of Object.entries(shims)) writeFileSync(join(dir, name), text, { mode: 0o755 });
}

/**
 * Turn DIR (a MailcowProject's directory) into that checkout. `work` holds the bare origin,
 * the upstream clone, the shims and the git config.
 */
export async function makeCheckout(engine: Engine, dir: string, work: string): Promise<Checkout> {
  if (!MAILCOW_GIT) throw new Error("MPI_MAILCOW_GIT is not set");
  const origin = join(work, "origin.git");
  const upstream = join(work, "upstream");
  const shims = join(work, "shims");
  writeShims(shims);
  const gitConfig = join(work, "gitconfig");
  writeFileSync(
    gitConfig,
    `[url "${origin}"]\n\tinsteadOf = ${MAILCOW_URL}\n[user]\n\tname = test\n\temail = test@example.test\n[init]\n\tdefaultBranch = master\n`,
  );
  // The hook keeps a refused build's log in TMPDIR: here, inside the work dir the engine removes.
  const tmp = join(work, "tmp");
  mkdirSync(tmp, { recursive: true });
  const env = { ...engine.env, GIT_CONFIG_GLOBAL: gitConfig, GIT_CONFIG_NOSYSTEM: "1", PATH: `${shims}:${process.env.PATH}`, TMPDIR: tmp };
  const git = (args: readonly string[], cwd = dir) => run(["git", "-C", cwd, ...args], { env, timeoutMs: 120_000 });

  // mailcow's files, as they are in the repository named, over the compose project.
  const testIgnores = readFileSync(join(dir, "gitignore"), "utf8");
  const archive = join(work, "mailcow-files.tar");
  await run(["git", "-C", MAILCOW_GIT, "archive", "--format=tar", "-o", archive, "HEAD", ...MAILCOW_FILES], { env, timeoutMs: 120_000 });
  await run(["tar", "-xf", archive, "-C", dir]);
  writeFileSync(join(dir, ".gitignore"), `${readFileSync(join(dir, ".gitignore"), "utf8")}\n# the test's compose project\n${testIgnores}`);
  if (!existsSync(join(dir, "_modules", "scripts", "core.sh")))
    throw new Error(`${MAILCOW_GIT} has no _modules/scripts/core.sh: not a mailcow-dockerized this test knows`);

  await git(["init", "-q", "-b", "master"]);
  await git(["add", "-A"]);
  await git(["commit", "-qm", "mailcow"]);
  await run(["git", "clone", "-q", "--bare", dir, origin], { env });
  await git(["remote", "add", "origin", MAILCOW_URL]);
  await git(["fetch", "-q", "origin"]);
  await git(["branch", "-q", "-u", "origin/master"]);
  await run(["git", "clone", "-q", MAILCOW_URL, upstream], { env });
  const root = (await git(["rev-parse", "HEAD"])).stdout.trim();
  return { dir, upstream, env, git, root };
}

/** An upstream commit that moves docker-compose.yml's postfix image to BASE, pushed to origin. */
export async function upstreamMovesPostfixTo(checkout: Checkout, base: string): Promise<void> {
  const compose = join(checkout.upstream, "docker-compose.yml");
  writeFileSync(compose, readFileSync(compose, "utf8").replace(/ghcr\.io\/mailcow\/postfix:\S+/, base));
  await checkout.git(["commit", "-qam", `postfix ${base}`], checkout.upstream);
  await checkout.git(["push", "-q", "origin", "master"], checkout.upstream);
}

/** mailcow's own update command, as the docs give it for unattended runs. */
export function updateSh(checkout: Checkout): Promise<RunResult> {
  return run(["./update.sh", "--force", "--skip-ping-check"], {
    cwd: checkout.dir,
    env: checkout.env,
    timeoutMs: 900_000,
    allowFailure: true,
  });
}
