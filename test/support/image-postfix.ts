import { join } from "node:path";
import { builtBinary } from "./binary.ts";
import { DOCKER } from "./docker.ts";
import { freePort, waitForBanner, writePostfixConfig, type TestPostfix, type TestPostfixOptions } from "./postfix-server.ts";
import { readFileSync } from "node:fs";

// Postfix and our compiled binary inside a given image (mailcow's real postfix image, with its
// own Postfix and OpenSSL), on the host's loopback (--network host), for tests that ask real
// clients on the host. The engine is the one DOCKER_HOST names; ROOT is mounted at the same
// path, so paths in maps and configs are the same inside and out. One container per run,
// removed by stop().

export interface ImageServers {
  /** Run ARGV in the container; stdout, stderr and exit code. */
  exec(argv: string[], env?: Record<string, string>): { exitCode: number; stdout: string; stderr: string };
  /** Our compiled binary in the container. */
  runOurs(argv: string[], env: Record<string, string>): { exitCode: number; stdout: string; stderr: string };
  startPostfix(options: TestPostfixOptions): Promise<TestPostfix>;
  stop(): void;
}

function docker(args: string[]): { exitCode: number; stdout: string; stderr: string } {
  const result = Bun.spawnSync([DOCKER, ...args], { stdout: "pipe", stderr: "pipe" });
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

export function startImageServers(image: string, root: string): ImageServers {
  const binary = builtBinary();
  const name = `judge-corpus-${process.pid}`;
  const started = docker([
    "run",
    "-d",
    "--rm",
    "--name",
    name,
    "--network",
    "host",
    "-v",
    `${root}:${root}`,
    "-v",
    `${binary}:/usr/local/bin/mailcow-postfix-init:ro`,
    "--entrypoint",
    "sleep",
    image,
    "infinity",
  ]);
  if (started.exitCode !== 0) throw new Error(`docker run ${image} failed: ${started.stderr}`);
  const exec = (argv: string[], env: Record<string, string> = {}) =>
    docker(["exec", ...Object.entries(env).flatMap(([key, value]) => ["-e", `${key}=${value}`]), name, ...argv]);
  const daemonDirectory = exec(["postconf", "-d", "-h", "daemon_directory"]).stdout.trim();
  return {
    exec,
    runOurs: (argv, env) => exec(["mailcow-postfix-init", ...argv], env),
    async startPostfix(options) {
      const port = await freePort();
      writePostfixConfig(options, port);
      const chown = exec(["chown", "postfix", join(options.root, "data")]);
      if (chown.exitCode !== 0) throw new Error(`chown in the container failed: ${chown.stderr}`);
      // As startTestPostfix: `postfix check` first, which also creates the queue's directories.
      const check = exec(["postfix", "-c", options.confDir, "check"]);
      if (check.exitCode !== 0) throw new Error(`postfix check in the container failed: ${check.stderr}`);
      const master = docker(["exec", "-d", name, join(daemonDirectory, "master"), "-s", "-c", options.confDir]);
      if (master.exitCode !== 0) throw new Error(`master in the container failed: ${master.stderr}`);
      const log = () => {
        try {
          return readFileSync(join(options.root, "maillog"), "utf8");
        } catch {
          return "";
        }
      };
      await waitForBanner(port, 20_000);
      return { port, confDir: options.confDir, log, stop: async () => null };
    },
    stop: () => void docker(["rm", "-f", name]),
  };
}
