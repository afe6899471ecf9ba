// StrykerJS for one group of source files and the test files that cover them (mutation/modules.ts),
// chosen by mutation/run.ts through the environment: MPI_MUTATE (files, comma-separated),
// MPI_MUTATION_TESTS (test files, space-separated), MPI_MUTATION_NAME (report name).
// Stryker's command runner runs `bun test --bail` on those files once per mutant (the first failing
// test ends the run: most mutants die early), with the mutant
// switched on by __STRYKER_ACTIVE_MUTANT__ (inherited by the processes a test starts, so a
// test that runs src/main.ts or bundles the binary from the sandbox sees the mutant too).
const name = process.env.MPI_MUTATION_NAME ?? "all";
const tests = process.env.MPI_MUTATION_TESTS ?? "";
if (!process.env.MPI_MUTATE || tests === "") throw new Error("run mutation testing with `npm run mutation` (mutation/run.ts sets MPI_MUTATE and MPI_MUTATION_TESTS)");

export default {
  testRunner: "command",
  commandRunner: { command: process.env.MPI_MUTATION_COMMAND ?? `node_modules/.bin/bun test --bail --timeout 20000 ${tests}` },
  mutate: process.env.MPI_MUTATE.split(","),
  coverageAnalysis: "off",
  concurrency: Number(process.env.MPI_MUTATION_CONCURRENCY ?? 1),
  // The sandbox is a copy of the repository without these (node_modules is linked in).
  ignorePatterns: ["dist", "bench", ".bench", "reports", ".stryker-tmp", "*.tmp"],
  tempDirName: ".stryker-tmp",
  cleanTempDir: "always",
  // Not incremental: the command runner reports one test ("All tests"), so Stryker could not
  // tell that a changed test file kills a mutant it remembers as survived.
  reporters: ["json", "clear-text", "progress-append-only"],
  jsonReporter: { fileName: `reports/mutation/${name}.json` },
  clearTextReporter: { allowColor: false, logTests: false, reportMutants: true, reportScoreTable: false },
  timeoutMS: 10_000,
  timeoutFactor: 2,
  dryRunTimeoutMinutes: 10,
  logLevel: "warn",
  fileLogLevel: "off",
  thresholds: { high: 90, low: 80, break: null },
};
