import { readFileSync } from "node:fs";
import { stringFlag, type CommandSpec } from "../command.ts";
import { UserError } from "../errors.ts";
import { writeFileAtomic } from "../atomic-write.ts";
import { ExtractError, extractTemplates } from "../templates/extract.ts";
import { DEFAULT_TEMPLATES_PATH } from "../templates/load.ts";

// `templates extract`: run by the image build against the base image's own /opt/postfix.sh,
// so the verbatim file bodies come from the mailcow version the image is built from.

export const templatesCommand: CommandSpec = {
  name: "templates",
  summary: "Extract the file templates from mailcow's postfix.sh (`templates extract`)",
  flags: {
    from: { type: "string", description: "mailcow's postfix startup script to read", valueName: "FILE", default: "/opt/postfix.sh" },
    out: { type: "string", description: "Templates JSON to write", valueName: "FILE", env: "MPI_TEMPLATES", default: DEFAULT_TEMPLATES_PATH },
  },
  rest: { name: "extract [--from FILE] [--out FILE]", description: "the only action; flags may follow it", required: true },
  async run(context) {
    const [action, ...extra] = context.rest;
    if (action !== "extract") {
      throw new UserError(`templates: unknown action \`${action}\`; expected \`templates extract --from FILE --out FILE\``, 2);
    }
    const trailing = parseTrailingFlags(extra);
    const from = trailing.from ?? stringFlag(context, "from");
    const out = trailing.out ?? stringFlag(context, "out");
    let script: string;
    try {
      script = readFileSync(from, "utf8");
    } catch (error) {
      throw new UserError(`cannot read ${from}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, 1, { cause: error });
    }
    let templates;
    try {
      templates = extractTemplates(script, from);
    } catch (error) {
      if (error instanceof ExtractError) throw new UserError(error.message, 1, { cause: error });
      throw error;
    }
    try {
      writeFileAtomic(out, `${JSON.stringify(templates, null, 2)}\n`, { mode: 0o644 });
    } catch (error) {
      throw new UserError(`cannot write ${out}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, 1, { cause: error });
    }
    context.log.info(`templates: ${Object.keys(templates.sqlMaps).length} SQL maps, ${templates.discontinuedDnsbl.length} discontinued DNSBL patterns from ${from} -> ${out}`);
    return 0;
  },
};

/**
 * The CLI hands everything after the first positional (`extract`) over untouched, so the
 * documented `templates extract --from FILE --out FILE` order is parsed here.
 */
export function parseTrailingFlags(words: readonly string[]): { from?: string; out?: string } {
  const result: { from?: string; out?: string } = {};
  for (let index = 0; index < words.length; index++) {
    const word = words[index]!;
    const match = /^--(from|out)(?:=(.*))?$/.exec(word);
    if (!match) throw new UserError(`templates extract: unexpected \`${word}\`; expected --from FILE and --out FILE`, 2);
    const value = match[2] ?? words[++index];
    if (value === undefined || value === "") throw new UserError(`templates extract: --${match[1]} expects a FILE`, 2);
    result[match[1] as "from" | "out"] = value;
  }
  return result;
}
