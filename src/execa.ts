// execa runs every child process (argv arrays, exit status and output checked, cancellation).
// Loaded on first use: imported at start-up it costs the compiled binary time on every run,
// which `--version`, `--help`, `check` and the usage errors never need (docs/performance.md).

let loading: Promise<typeof import("execa")> | undefined;

/** The execa module, imported once, when the first child process is started. */
export function execaModule(): Promise<typeof import("execa")> {
  loading ??= import("execa");
  return loading;
}
