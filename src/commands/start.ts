import type { CommandSpec } from "../command.ts";
import { UserError } from "../errors.ts";

// Placeholder until the `start` issue lands.
export const startCommand: CommandSpec = {
  name: "start",
  summary: "(not yet implemented)",
  flags: {},
  async run() {
    throw new UserError("`start` is not implemented yet");
  },
};
