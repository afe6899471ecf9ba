import { existsSync } from "node:fs";
import { join } from "node:path";
import { renderTemplate } from "../templates/template.ts";
import type { PostfixIds, StepContext } from "./context.ts";
import { writeIfChanged } from "./files.ts";

/** Files main.cf refers to that the admin may fill in; created only when missing. */
export function createCustomFiles(context: StepContext, ids: PostfixIds): void {
  const { confDir } = context.paths;
  const transport = join(confDir, "custom_transport.pcre");
  if (!existsSync(transport)) {
    context.log.info(`creating empty ${transport}`);
    writeIfChanged(transport, "", { mode: 0o640, uid: 0, gid: ids.postfixGid });
  }
  const whitelist = join(confDir, "custom_postscreen_whitelist.cidr");
  if (!existsSync(whitelist)) {
    context.log.info(`creating ${whitelist}`);
    writeIfChanged(whitelist, renderTemplate(context.templates.postscreenWhitelist, {}), { mode: 0o644 });
  }
}
