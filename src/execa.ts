// execa runs every child process (argv arrays, exit status and output checked, cancellation).
// Loaded on first use: imported at start-up it cost the compiled binary ~4 ms of every run,
// which `--version`, `--help`, `check` and the usage errors never need (`--version`, 150
// alternating runs on a shared 2-core machine: median 22.0 ms imported at start-up, 18.0 ms
// loaded on first use).

let loading: Promise<typeof import("execa")> | undefined;

/** The execa module, imported once, when the first child process is started. */
export function execaModule(): Promise<typeof import("execa")> {
  loading ??= import("execa");
  return loading;
}
