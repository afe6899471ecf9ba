import { join } from "node:path";
import type { CommandContext } from "../command.ts";
import { lockConfDir } from "../conf-lock.ts";
import type { StartEnv } from "../env.ts";
import { createPhaseTimer } from "../phase-timer.ts";
import { createPostfixTools, masterIsRunning } from "../postfix/index.ts";
import { updateSniMap } from "../sni/update.ts";
import { loadTemplates } from "../templates/load.ts";
import { writeAliases } from "../steps/aliases.ts";
import { checkAsn, type AsnVerdict } from "../steps/asn-check.ts";
import { checkBaseImage } from "../steps/base-image.ts";
import { checkFatal, readCheckFatalValues } from "../steps/check-fatal.ts";
import type { StepContext } from "../steps/context.ts";
import { createCustomFiles } from "../steps/custom-files.ts";
import { prepareDnsbl } from "../steps/dnsbl.ts";
import { execMaster, realExec, type ExecFunction } from "../steps/exec-master.ts";
import { updateExtraCf } from "../steps/extra-cf.ts";
import { writeMainCf } from "../steps/main-cf.ts";
import { removeStaleMasterPid } from "../steps/master-pid.ts";
import { fixPermissions, lookupPostfixIds, readDefaultPostfixFilesVariables } from "../steps/permissions.ts";
import { writeSqlMaps } from "../steps/sql-maps.ts";
import { waitUntilReady } from "../steps/wait.ts";
import { interruptionFor, listenForStopSignals } from "../signals.ts";
import { databaseClient, probeDatabase, withClientOptionFile, type DatabaseClient } from "../steps/wait-db.ts";
import { probeDns } from "../steps/wait-dns.ts";
import { cacheFileFor } from "../sni/cache.ts";
import { startPaths, type START_OPTIONS, type StartOptions } from "./start-options.ts";

// What `start` runs (start.ts declares it, and imports this only when start runs): mailcow's
// /opt/postfix.sh as one straight story, ending in exec into Postfix's master.

/** Side effects tests replace: the final exec, the ASN check, the interrupt signal. */
export interface StartDeps {
  exec: ExecFunction;
  checkAsn(url: string, signal: AbortSignal): Promise<AsnVerdict>;
  signal?: AbortSignal;
  retryMs?: { database: number; dns: number };
}

export const defaultStartDeps: StartDeps = {
  exec: realExec,
  checkAsn: (url, signal) => checkAsn(url, { signal }),
};

type StartContext = CommandContext<typeof START_OPTIONS, StartEnv>;

export async function runStart(context: StartContext, deps: StartDeps, signal: AbortSignal): Promise<number> {
  const { log, options, environment: env } = context;
  const timer = createPhaseTimer();
  timer.mark("start-up");
  const paths = startPaths(options);
  checkBaseImage(
    { builtFromFile: options.baseImageFile, composeFile: options.mailcowComposeFile, unverifiedFile: options.unverifiedBaseFile },
    log,
  );
  const templates = loadTemplates(options.templates);
  const ids = lookupPostfixIds();
  const tools = createPostfixTools({ configDir: options.mailConfig, env: context.inherited });
  const step: StepContext = { paths, env, templates, log, tools };

  timer.mark("environment");
  // One Postfix tool run that needs nothing of ours (the image's /etc/postfix): while we wait.
  const defaultVariables = readDefaultPostfixFilesVariables(tools, log);
  await waitForDependencies(step, options, deps, signal, databaseClient(context.inherited));
  timer.mark("database and DNS waits");

  // One writer at a time in the conf dir (sni-map and reload take the same lock).
  using _lock = await lockConfDir(paths.confDir, log, options.lockTimeout);
  timer.mark("lock wait");
  // The ASN check (an HTTPS request, only without a DQS key) runs while the maps are built.
  const asnVerdict = env.spamhausDqsKey ? undefined : deps.checkAsn(options.asnCheckUrl, signal);
  asnVerdict?.catch(() => {}); // its failure is reported where it is used
  if (env.skipLetsEncrypt) {
    log.info("SKIP_LETS_ENCRYPT is set: the default certificate is mapped all the same");
  }
  // Independent files and tools, concurrently: /etc/aliases + postalias, sni.map + postmap -F.
  const cache = cacheFileFor(paths.confDir, options.cacheFile, paths.spoolDir);
  await settleInOrder([
    writeAliases(step, cache),
    updateSniMap({ tools, sslDir: paths.sslDir, confDir: paths.confDir, hostname: env.hostname, log, cacheFile: cache }),
  ]);
  timer.mark("aliases and SNI map");
  writeSqlMaps(step, ids);
  const dnsbl = await prepareDnsbl(step, () => asnVerdict ?? deps.checkAsn(options.asnCheckUrl, signal));
  throwIfInterrupted(signal);
  const extraCf = updateExtraCf(paths.confDir, env.hostname);
  writeMainCf(paths.confDir, dnsbl, extraCf);
  createCustomFiles(step, ids);
  timer.mark("config files");
  // Independent Postfix tool runs, concurrently (set-permissions, when it must run, is the slow one).
  // The config check's failure is reported first: a broken main.cf should fail with postconf's
  // own words.
  const [confValues, preparedLayout] = await settleInOrder([
    readCheckFatalValues(tools, paths.confDir, log),
    fixPermissions(step, ids, defaultVariables),
  ] as const);
  timer.mark("config and permission checks");
  const masterPath = join(confValues.daemon_directory, "master");
  await removeStaleMasterPid(paths.spoolDir, () => masterIsRunning(tools, masterPath, paths.confDir, log), log);
  timer.mark("master.pid test");
  // What `postfix start` would check next, queue repair included (after set-permissions, which
  // creates missing queue directories too, so the two never race).
  await checkFatal(tools, paths.confDir, log, preparedLayout, confValues);
  timer.mark("check-fatal");

  throwIfInterrupted(signal);
  log.info(`prepared in ${timer.summary()}`);
  execMaster(masterPath, paths.confDir, context.inherited, log, deps.exec);
  return 0; // only reached when `exec` is a test double
}

/**
 * Wait for every step, then report the first failure in the order given (a broken main.cf
 * fails with postconf's own words even when another step failed too).
 */
async function settleInOrder<T extends readonly unknown[]>(steps: T): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const settled = await Promise.allSettled(steps);
  for (const outcome of settled) if (outcome.status === "rejected") throw outcome.reason;
  return settled.map((outcome) => (outcome as PromiseFulfilledResult<unknown>).value) as { -readonly [K in keyof T]: Awaited<T[K]> };
}

/** A signal that arrived during the steps still stops us before Postfix is started. */
function throwIfInterrupted(signal: AbortSignal): void {
  if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : interruptionFor("SIGTERM");
}

/**
 * The database and DNS waits, side by side (each with its own progress lines); the first to
 * fail (a timeout, an interrupt) ends the other.
 */
async function waitForDependencies(
  step: StepContext,
  options: StartOptions,
  deps: StartDeps,
  signal: AbortSignal,
  database: DatabaseClient,
): Promise<void> {
  const both = new AbortController();
  const forward = () => both.abort(signal.reason);
  if (signal.aborted) forward();
  signal.addEventListener("abort", forward, { once: true });
  const common = { log: step.log, signal: both.signal, timeoutMs: options.waitTimeout };
  const endTheOther = <T>(wait: Promise<T>) =>
    wait.catch((error: unknown) => {
      both.abort(error);
      throw error;
    });
  const waits = [
    withClientOptionFile(step.env.dbUser, step.env.dbPass, (optionFile) =>
      waitUntilReady({
        ...common,
        what: `database on ${step.paths.mysqlSocket}`,
        retryMs: deps.retryMs?.database ?? 2_000,
        probe: (abort) => probeDatabase(database, optionFile, step.paths.mysqlSocket, abort),
      }),
    ),
    waitUntilReady({
      ...common,
      what: `DNS (${options.dnsProbeName})`,
      retryMs: deps.retryMs?.dns ?? 1_000,
      probe: (abort) => probeDns(options.dnsProbeName, options.dnsServer, abort),
    }),
  ].map(endTheOther);
  try {
    await Promise.all(waits);
  } catch (error) {
    // An interrupt ends both at once: name the first in order (the database), deterministically.
    if (signal.aborted) await settleInOrder(waits);
    throw error;
  } finally {
    signal.removeEventListener("abort", forward);
  }
}

/** SIGTERM/SIGINT while starting end the start at once (exit 143/130), not after the wait. */
export async function runWithInterrupts(context: StartContext, deps: StartDeps): Promise<number> {
  if (deps.signal) return runStart(context, deps, deps.signal);
  using stopSignals = listenForStopSignals();
  // Right before the exec the default actions come back: a SIGTERM in that last instant
  // kills us instead of being swallowed while master starts anyway.
  const exec: ExecFunction = (path, argv, env) => {
    stopSignals.stop();
    throwIfInterrupted(stopSignals.signal);
    return deps.exec(path, argv, env);
  };
  return await runStart(context, { ...deps, exec }, stopSignals.signal);
}
