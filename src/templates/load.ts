import { readFileSync } from "node:fs";
import { errnoText, UserError } from "../errors.ts";
import { PROGRAM } from "../log.ts";
import { templatesSchema, type Templates } from "./template.ts";

/** Read and validate the templates file; any problem names the path and the way to make it. */
export function loadTemplates(path: string): Templates {
  const hint = `run \`${PROGRAM} templates extract --from /opt/postfix.sh --out ${path}\``;
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new UserError(`cannot read templates ${path}: ${errnoText(error)}; ${hint}`, 1, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new UserError(`templates ${path} is not valid JSON (${(error as Error).message}); ${hint}`, 1, { cause: error });
  }
  const parsed = templatesSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UserError(`templates ${path} is invalid at ${issue.path.join(".") || "top level"}: ${issue.message}; ${hint}`);
  }
  return parsed.data;
}
