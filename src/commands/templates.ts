import type { CommandSpec } from "../command.ts";
import { UserError } from "../errors.ts";

// Placeholder until the `templates` issue lands.
export const templatesCommand: CommandSpec = {
  name: "templates",
  summary: "(not yet implemented)",
  flags: {},
  async run() {
    throw new UserError("`templates` is not implemented yet");
  },
};
