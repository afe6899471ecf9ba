import type { CommandSpec } from "../command.ts";
import { UserError } from "../errors.ts";

// Placeholder until the `entrypoint` issue lands.
export const entrypointCommand: CommandSpec = {
  name: "entrypoint",
  summary: "(not yet implemented)",
  flags: {},
  async run() {
    throw new UserError("`entrypoint` is not implemented yet");
  },
};
