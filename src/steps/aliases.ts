import { postaliasBuild, readHashDbKeys } from "../postfix/index.ts";
import {
  forgetTableRecord,
  readTableRecord,
  saveTableRecord,
  snapshotIdentities,
  tableIsCurrent,
  tableRecordFileFor,
} from "../table-record.ts";
import { renderTemplate } from "../templates/template.ts";
import type { StepContext } from "./context.ts";
import { writeIfChanged } from "./files.ts";

/**
 * /etc/aliases from mailcow's template, then its .db (mailcow's script: `newaliases`). A restart of the
 * same container finds both as the last build left them (table-record.ts, kept where the SNI
 * validation cache is, `cacheFile`) and skips postalias; a new container, an edited
 * /etc/aliases or a touched .db means a build, as in stock.
 */
export async function writeAliases(context: StepContext, cacheFile?: string): Promise<void> {
  const { aliasesFile, confDir } = context.paths;
  writeIfChanged(aliasesFile, renderTemplate(context.templates.aliases, {}), { mode: 0o644 });
  const recordFile = tableRecordFileFor(cacheFile, "aliases");
  const outputs = [`${aliasesFile}.db`];
  // Taken before postalias reads the file (which only this step writes): no settle time needed.
  const inputs = snapshotIdentities([aliasesFile]);
  if (recordFile !== undefined) {
    if (tableIsCurrent(readTableRecord(recordFile), inputs, outputs) && readHashDbKeys(outputs[0]!) !== undefined) {
      context.log.info(`postalias skipped: ${aliasesFile} and its .db are unchanged since they were built`);
      return;
    }
    forgetTableRecord(recordFile);
  }
  await postaliasBuild(context.tools, aliasesFile, confDir, context.log);
  if (recordFile !== undefined) saveTableRecord(recordFile, inputs, outputs, context.log);
}
