import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { runCli } from "../../support/cli.ts";
import { mailTrees, minimalConfDir } from "../../support/fixture.ts";

// docs/commands.md: a flag wins over its environment variable, which wins over the default.
// Both conf dirs are usable, so a wrong pick writes into the other one.

const mailTree = mailTrees("mpi-flag-env-");

test("--conf-dir A with MPI_CONF_DIR=B writes into A and leaves B alone", async () => {
  const { root, confDir: flagged, sslDir } = mailTree();
  const fromEnv = minimalConfDir(join(root, "conf-from-env"));
  const run = await runCli(["sni-map", "--ssl-dir", sslDir, "--conf-dir", flagged], {
    MPI_CONF_DIR: fromEnv,
    MAILCOW_HOSTNAME: "mail.example.test",
  });
  expect(run.exitCode).toBe(0);
  expect(existsSync(join(flagged, "sni.map.db"))).toBe(true);
  expect(existsSync(join(fromEnv, "sni.map"))).toBe(false);
  // Without the flag the variable is used.
  expect((await runCli(["sni-map", "--ssl-dir", sslDir], { MPI_CONF_DIR: fromEnv, MAILCOW_HOSTNAME: "mail.example.test" })).exitCode).toBe(
    0,
  );
  expect(existsSync(join(fromEnv, "sni.map.db"))).toBe(true);
});
