import type { CommandSpec } from "../command.ts";
import { UserError } from "../errors.ts";

// Placeholder until the `reload` issue lands.
export const reloadCommand: CommandSpec = {
  name: "reload",
  summary: "(not yet implemented)",
  flags: {},
  async run() {
    throw new UserError("`reload` is not implemented yet");
  },
};
