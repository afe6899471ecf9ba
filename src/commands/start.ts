import { defineCommand } from "../command.ts";
import { MAILCOW_VARIABLES } from "./shared-options.ts";
import { START_OPTIONS } from "./start-options.ts";
import type { StartDeps } from "./start-run.ts";

// `start`: mailcow's /opt/postfix.sh as one straight story, ending in exec into Postfix's master.
// Declared here; the steps (start-run.ts) and the environment's schema (env.ts) are imported
// when start runs, so --help and the other commands never load them.

/** `deps` replaces start-run.ts's defaultStartDeps (tests: exec, the ASN check, the signal). */
export function createStartCommand(deps?: StartDeps) {
  return defineCommand({
    name: "start",
    summary: "Prepare Postfix's config like mailcow's postfix.sh, then exec into the Postfix master (default command)",
    options: START_OPTIONS,
    environment: {
      variables: MAILCOW_VARIABLES,
      parse: async (env) => (await import("../env.ts")).parseStartEnv(env),
    },
    async run(context) {
      const { defaultStartDeps, runWithInterrupts } = await import("./start-run.ts");
      return runWithInterrupts(context, deps ?? defaultStartDeps);
    },
  });
}

export const startCommand = createStartCommand();
