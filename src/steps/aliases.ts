import { postaliasBuild } from "../postfix.ts";
import { renderTemplate } from "../templates/template.ts";
import type { StepContext } from "./context.ts";
import { writeIfChanged } from "./files.ts";

/** /etc/aliases from mailcow's template, then its .db (today: `newaliases`). */
export async function writeAliases(context: StepContext): Promise<void> {
  const { aliasesFile, confDir } = context.paths;
  writeIfChanged(aliasesFile, renderTemplate(context.templates.aliases, {}), { mode: 0o644 });
  await postaliasBuild(aliasesFile, confDir, context.log);
}
