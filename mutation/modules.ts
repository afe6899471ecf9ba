// Which tests cover which source file, for mutation testing (mutation/run.ts): each mutant of a
// file is run against these test files only, so a run fits a 2-core machine. A file that only
// declares types (src/sni/types.ts, src/steps/context.ts) has no mutants and is not listed.
// An entry is `bun test` arguments: test files, and `-t PATTERN` to run only some tests of a
// slow file. Keep a file's list to the tests that exercise it: a missing test shows up as
// survivors, an extra slow one only as time.

const SNI_ENGINE = ["test/unit/sni/index.test.ts", "test/unit/sni/map-rules.test.ts"];
/**
 * start.test.ts without its 30-start race (the race runs the same steps 30 times). The `-t`
 * filter applies to every file of a run: a unit test run beside it must match it too (the
 * steps whose unit tests do not are measured by those alone; start.test.ts runs them in the suite).
 */
const START = ["test/integration/start.test.ts", "-t", "^(start|start does|postfix set-permissions)"];

export const MODULES: Record<string, string[]> = {
  "src/sni/claims.ts": ["test/unit/sni/plan-rules.test.ts", "test/unit/sni/plan.test.ts", ...SNI_ENGINE, "test/e2e/seed-condition.test.ts"],
  "src/sni/client-fit.ts": ["test/unit/sni/client-fit.test.ts", ...SNI_ENGINE],
  "src/sni/cache.ts": ["test/unit/sni/cache-identities.test.ts", "test/unit/sni/cache-file.test.ts", "test/unit/sni/cache.test.ts", "test/unit/commands/sni-map.test.ts"],
  "src/sni/certificate.ts": ["test/unit/sni/certificate-der.test.ts", "test/unit/sni/certificate.test.ts", ...SNI_ENGINE],
  "src/sni/der.ts": ["test/unit/sni/der.test.ts", "test/unit/sni/certificate.test.ts", ...SNI_ENGINE],
  "src/sni/discover.ts": ["test/unit/sni/replaced-directory.test.ts", "test/unit/sni/discover-entries.test.ts", "test/unit/sni/discover-inputs.test.ts", "test/unit/sni/discover-searchable.test.ts", "test/unit/sni/discover-syscalls.test.ts", "test/unit/sni/discover.test.ts", ...SNI_ENGINE],
  "src/sni/index.ts": ["test/unit/sni/index-rules.test.ts", "test/unit/sni/replaced-directory.test.ts", ...SNI_ENGINE, "test/unit/commands/sni-map.test.ts", "test/unit/table-record.test.ts"],
  "src/sni/judge.ts": ["test/unit/sni/judge-rules.test.ts", "test/unit/sni/loader-rules.test.ts", "test/unit/sni/validate-rules.test.ts", ...SNI_ENGINE, "test/unit/sni/postfix-loader.test.ts"],
  "src/sni/loaded-chain.ts": ["test/unit/sni/loader-rules.test.ts", "test/unit/sni/postfix-loader.test.ts", ...SNI_ENGINE],
  "src/sni/names.ts": ["test/unit/sni/names.test.ts", "test/unit/sni/name-rules.test.ts", ...SNI_ENGINE],
  "src/sni/openssl.ts": ["test/unit/sni/openssl.test.ts", "test/unit/sni/openssl-missing.test.ts", "test/unit/sni/loader-rules.test.ts", "test/unit/sni/postfix-loader.test.ts", ...SNI_ENGINE],
  "src/sni/pem-objects.ts": ["test/unit/sni/loader-rules.test.ts", "test/unit/sni/postfix-loader.test.ts", "test/unit/sni/loader-memory.test.ts", ...SNI_ENGINE],
  "src/sni/plan.ts": ["test/unit/sni/plan-rules.test.ts", "test/unit/sni/plan.test.ts", ...SNI_ENGINE, "test/e2e/seed-condition.test.ts"],
  "src/sni/private-copy.ts": ["test/unit/sni/private-copy-dir.test.ts", "test/unit/sni/private-copy.test.ts", "test/unit/sni/write.test.ts"],
  "src/sni/postfix-loader.ts": ["test/unit/sni/loader-rules.test.ts", "test/unit/sni/postfix-loader.test.ts", "test/unit/sni/loader-memory.test.ts", ...SNI_ENGINE],
  "src/sni/render.ts": ["test/unit/sni/index.test.ts", "test/unit/sni/write.test.ts"],
  "src/sni/report.ts": ["test/unit/sni/report-rules.test.ts", "test/unit/commands/check-report.test.ts", "test/unit/commands/check.test.ts"],
  "src/sni/source-names.ts": ["test/unit/sni/plan-rules.test.ts", "test/unit/sni/name-rules.test.ts", "test/unit/sni/plan.test.ts", ...SNI_ENGINE],
  "src/sni/streamed-build.ts": ["test/unit/sni/streamed-build.test.ts"],
  "src/sni/table-build.ts": ["test/unit/sni/streamed-build.test.ts", "test/unit/sni/index-rules.test.ts", ...SNI_ENGINE, "test/unit/sni/table-update-choice.test.ts", "test/unit/table-record.test.ts", "test/unit/commands/sni-map.test.ts", "test/integration/sni-incremental.test.ts"],
  "src/sni/table-update.ts": ["test/unit/sni/table-update.test.ts", "test/unit/sni/table-update-choice.test.ts", "test/unit/sni/write.test.ts", "test/integration/sni-incremental.test.ts"],
  "src/sni/validate-parallel.ts": ["test/unit/sni/validate-parallel-rules.test.ts", "test/unit/sni/validate-parallel.test.ts", ...SNI_ENGINE],
  "src/sni/validate-worker.ts": ["test/unit/sni/validate-parallel-rules.test.ts", "test/unit/sni/validate-parallel.test.ts"],
  "src/sni/decoded-keys.ts": ["test/unit/sni/decoded-keys.test.ts", "test/unit/sni/postfix-loader.test.ts"],
  "src/sni/discovery-record.ts": ["test/unit/sni/discovery-record.test.ts"],
  "src/sni/embedded.ts": ["test/unit/sni/embedded-rules.test.ts", "test/unit/sni/embedded.test.ts", "test/unit/sni/write.test.ts"],
  "src/sni/run-record.ts": ["test/unit/sni/run-record-rules.test.ts", "test/unit/sni/run-record.test.ts", "test/unit/sni/update.test.ts"],
  "src/sni/update.ts": ["test/unit/sni/update.test.ts", "test/unit/sni/run-record-rules.test.ts", "test/unit/sni/run-record.test.ts", "test/unit/sni/embedded.test.ts", "test/unit/table-record.test.ts", "test/unit/sni/streamed-build.test.ts"],
  "src/sni/validate.ts": ["test/unit/sni/validate-rules.test.ts", "test/unit/sni/validate-waits.test.ts", "test/unit/sni/validate-memory.test.ts", "test/unit/sni/validate.test.ts", "test/unit/sni/judge-rules.test.ts", ...SNI_ENGINE, "test/unit/sni/postfix-loader.test.ts", "test/integration/sni-renewal.test.ts"],
  "src/sni/write.ts": ["test/unit/sni/write-rules.test.ts", "test/unit/sni/write-shared-memory.test.ts", "test/unit/sni/write.test.ts", "test/unit/commands/sni-map.test.ts", "test/unit/sni/table-update-choice.test.ts"],

  // The watcher's files: unit tests that drive it in-process (real tree, inotify, postmap; a
  // reload stand-in), a second or so per mutant. test/integration/watch-*.test.ts run the
  // `watch` command beside a real Postfix (20-30 s per mutant); only last-good.ts keeps one.
  "src/watch/applier.ts": ["test/unit/watch/applier-flow.test.ts", "test/unit/watch/applier-timers.test.ts", "test/unit/watch/applier.test.ts", "test/unit/watch/watcher.test.ts"],
  "src/watch/apply.ts": ["test/unit/watch/apply-line.test.ts", "test/unit/watch/apply.test.ts", "test/unit/watch/applier-flow.test.ts"],
  "src/watch/expiry.ts": ["test/unit/watch/expiry.test.ts", "test/unit/watch/applier.test.ts"],
  "src/watch/last-good.ts": ["test/unit/watch/last-good.test.ts", "test/unit/watch/last-good-rules.test.ts", "test/integration/watch-reloads.test.ts"],
  "src/watch/settle.ts": ["test/unit/watch/settle.test.ts"],
  "src/watch/tree.ts": ["test/unit/watch/tree.test.ts", "test/unit/watch/tree-limits.test.ts", "test/unit/watch/watcher.test.ts"],
  "src/watch/watcher.ts": ["test/unit/watch/watcher.test.ts"],

  "src/options.ts": ["test/unit/options.test.ts", "test/unit/cli.test.ts", "test/unit/commands/flag-over-env.test.ts", "test/unit/commands/sni-map.test.ts", "test/unit/steps/wait-dns.test.ts"],

  "src/steps/aliases.ts": ["test/unit/steps/aliases-custom-files.test.ts"],
  "src/steps/asn-check.ts": ["test/unit/steps/asn-check.test.ts", "test/unit/steps/dnsbl.test.ts"],
  "src/steps/base-image.ts": ["test/unit/steps/base-image.test.ts", "test/unit/templates/verify.test.ts"],
  "src/steps/check-fatal.ts": ["test/unit/steps/check-fatal.test.ts"],
  "src/steps/custom-files.ts": ["test/unit/steps/aliases-custom-files.test.ts"],
  "src/steps/dnsbl.ts": ["test/unit/steps/dnsbl.test.ts"],
  "src/steps/exec-master.ts": ["test/unit/steps/exec-master.test.ts", "test/unit/secrets.test.ts"],
  "src/steps/extra-cf.ts": ["test/unit/steps/extra-cf.test.ts"],
  "src/steps/files.ts": ["test/unit/steps/files.test.ts", "test/unit/steps/sql-maps.test.ts", "test/unit/steps/extra-cf.test.ts", "test/unit/steps/main-cf.test.ts"],
  "src/steps/hooks.ts": ["test/unit/steps/hooks.test.ts", "test/unit/steps/hooks-lifecycle.test.ts"],
  "src/steps/main-cf.ts": ["test/unit/steps/main-cf.test.ts"],
  "src/steps/master-pid.ts": ["test/unit/steps/master-pid.test.ts"],
  "src/steps/openssl-legacy.ts": ["test/unit/steps/openssl-legacy.test.ts", "test/unit/commands/entrypoint.test.ts"],
  "src/steps/permissions-check.ts": ["test/unit/steps/permissions-check-rules.test.ts", "test/unit/steps/permissions-check.test.ts", "test/unit/steps/sql-maps.test.ts"],
  "src/steps/permissions.ts": ["test/unit/steps/permissions.test.ts", ...START],
  "src/steps/sql-maps.ts": ["test/unit/steps/sql-maps.test.ts"],
  "src/steps/syslog-ng.ts": ["test/unit/steps/syslog-ng.test.ts"],
  "src/steps/wait-db.ts": ["test/unit/steps/wait-db-probe.test.ts", "test/integration/wait-db.test.ts"],
  "src/steps/wait-dns.ts": ["test/unit/steps/wait-dns.test.ts"],
  "src/steps/wait.ts": ["test/unit/steps/wait.test.ts", "test/unit/steps/wait-limit.test.ts", "test/unit/steps/wait-lines.test.ts"],
};

/** The modules of the score targets: at least 90% for src/sni/ and src/watch/, 80% for the others. */
export const TARGETS: { prefix: string; percent: number }[] = [
  { prefix: "src/sni/", percent: 90 },
  { prefix: "src/watch/", percent: 90 },
  { prefix: "src/options.ts", percent: 80 },
  { prefix: "src/steps/", percent: 80 },
];
