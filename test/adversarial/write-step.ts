import { readFileSync } from "node:fs";
import { join } from "node:path";
import { writeMapText } from "../support/map-text.ts";
import { updateExtraCf } from "../../src/steps/extra-cf.ts";
import { writeMainCf } from "../../src/steps/main-cf.ts";
import { writeSqlMaps } from "../../src/steps/sql-maps.ts";
import type { StepContext } from "../../src/steps/context.ts";
import { createLogger } from "../../src/log.ts";
import { extractTemplates } from "../../src/templates/extract.ts";

// One write step of `start`, alone, as a process the suite can stop mid-write (a file size
// limit, a SIGKILL): `bun write-step.ts KIND CONF_DIR VALUE|@FILE`. Exit 0 when the write completed.

const [kind, confDir, argument = ""] = process.argv.slice(2) as [string, string, string?];
/** `@FILE` reads the value from FILE (an argument may not exceed 128 KB). */
const value = argument.startsWith("@") ? readFileSync(argument.slice(1), "utf8") : argument;
const log = createLogger();
const FIXTURE = join(import.meta.dir, "..", "fixtures", "upstream-postfix.sh");

switch (kind) {
  case "main.cf":
    writeMainCf(confDir, { sites: "", spamhaus: "" }, value);
    break;
  case "extra.cf":
    updateExtraCf(confDir, value);
    break;
  case "sql": {
    const templates = extractTemplates(readFileSync(FIXTURE, "utf8"), FIXTURE);
    const env = { dbName: "mailcow", dbUser: "mailcow", dbPass: value, hostname: "mail.example.test" };
    const context = { paths: { confDir, sslDir: "", spoolDir: "", mysqlSocket: "", aliasesFile: "" }, env, templates, log } as StepContext;
    writeSqlMaps(context, { postfixGid: 0, postdropGid: 0 });
    break;
  }
  case "sni.map":
    await writeMapText(confDir, value, log);
    break;
  default:
    throw new Error(`unknown kind ${kind}`);
}
