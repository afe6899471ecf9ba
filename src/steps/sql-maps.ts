import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { errnoText, UserError } from "../errors.ts";
import type { StartEnv } from "../env.ts";
import { renderTemplate, type Templates } from "../templates/template.ts";
import type { PostfixIds, StepContext } from "./context.ts";
import { writeIfChanged } from "./files.ts";

// The MySQL lookup tables under CONF/sql/. They hold the database password, so they are
// root:postfix 0640 from the moment they exist (the temp file is created with that mode).

/** File name -> content, in name order. Pure. */
export function renderSqlMaps(templates: Templates, env: StartEnv): Map<string, string> {
  const values = { DBUSER: env.dbUser, DBPASS: env.dbPass, DBNAME: env.dbName };
  return new Map(Object.entries(templates.sqlMaps).map(([name, template]) => [name, renderTemplate(template, values)]));
}

export function writeSqlMaps(context: StepContext, ids: PostfixIds): string[] {
  const dir = join(context.paths.confDir, "sql");
  try {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
  } catch (error) {
    throw new UserError(`cannot create ${dir}: ${errnoText(error)}`, 1, { cause: error });
  }
  const written: string[] = [];
  for (const [name, content] of renderSqlMaps(context.templates, context.env)) {
    const path = join(dir, name);
    writeIfChanged(path, content, { mode: 0o640, uid: 0, gid: ids.postfixGid });
    written.push(path);
  }
  return written;
}
