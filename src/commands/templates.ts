import { readFileSync, rmSync } from "node:fs";
import { stringFlag, type CommandContext, type CommandSpec } from "../command.ts";
import { UserError } from "../errors.ts";
import { writeFileAtomic } from "../atomic-write.ts";
import { ExtractError, extractTemplates } from "../templates/extract.ts";
import { BASE_FILE_KINDS, fingerprintFile, type BaseFileKind } from "../templates/fingerprint.ts";
import { DEFAULT_TEMPLATES_PATH } from "../templates/load.ts";
import { DEFAULT_UNVERIFIED_BASE_FILE, unknownBaseMessage, unverifiedRecord, verifyBase } from "../templates/verify.ts";

// `templates extract` and `templates verify`: run by the image build against the base image's
// own files, so the verbatim file bodies come from the mailcow version the image is built from,
// and a version whose startup logic this release does not know stops the build.
// `templates fingerprint` prints the entries a maintainer adds to src/templates/known-bases.json
// once `start` has been checked against that version.

const USAGE = "expected `templates extract|verify|fingerprint` (see --help)";

export const templatesCommand: CommandSpec = {
  name: "templates",
  summary: "Extract the file templates from mailcow's postfix.sh (`templates extract`); check the base's startup files (`templates verify`)",
  flags: {
    from: { type: "string", description: "mailcow's postfix startup script to read", valueName: "FILE", default: "/opt/postfix.sh" },
    out: { type: "string", description: "Templates JSON to write (extract)", valueName: "FILE", env: "MPI_TEMPLATES", default: DEFAULT_TEMPLATES_PATH },
    entrypoint: { type: "string", description: "The base image's entrypoint script (verify, fingerprint)", valueName: "FILE", default: "/docker-entrypoint.sh" },
    supervisord: { type: "string", description: "The base image's supervisord.conf (verify, fingerprint)", valueName: "FILE", default: "/etc/supervisor/supervisord.conf" },
    accept: { type: "string", description: "Build on this unknown base anyway; every start then warns (verify)", valueName: "FINGERPRINT", env: "MPI_ACCEPT_UNVERIFIED_BASE" },
    record: { type: "string", description: "Where verify records an accepted unknown base for start", valueName: "FILE", env: "MPI_UNVERIFIED_BASE_FILE", default: DEFAULT_UNVERIFIED_BASE_FILE },
  },
  rest: { name: "extract|verify|fingerprint [FLAGS]", description: "the action; flags may follow it", required: true },
  async run(context) {
    const [action, ...extra] = context.rest;
    const trailing = parseTrailingFlags(extra);
    const flag = (name: TrailingFlag) => trailing[name] ?? stringFlag(context, name);
    if (action === "extract") return extract(context, flag("from"), flag("out"));
    const paths: Record<BaseFileKind, string> = { "postfix.sh": flag("from"), "docker-entrypoint.sh": flag("entrypoint"), "supervisord-program-postfix": flag("supervisord") };
    if (action === "fingerprint") {
      const entries = Object.fromEntries(BASE_FILE_KINDS.map((kind) => [kind, { ...fingerprintFile(kind, readInput(paths[kind])), sources: [paths[kind]] }]));
      context.stdout(`${JSON.stringify(entries, null, 2)}\n`);
      return 0;
    }
    if (action === "verify") {
      const accept = trailing.accept ?? (typeof context.flags.accept === "string" ? context.flags.accept : "");
      return verify(context, paths, accept.trim() || undefined, flag("record"));
    }
    throw new UserError(`templates: unknown action \`${action}\`; ${USAGE}`, 2);
  },
};

function extract(context: CommandContext, from: string, out: string): number {
  const script = readInput(from);
  let templates;
  try {
    templates = extractTemplates(script, from);
  } catch (error) {
    if (error instanceof ExtractError) throw new UserError(error.message, 1, { cause: error });
    throw error;
  }
  writeOutput(out, `${JSON.stringify(templates, null, 2)}\n`);
  context.log.info(`templates: ${Object.keys(templates.sqlMaps).length} SQL maps, ${templates.discontinuedDnsbl.length} discontinued DNSBL patterns from ${from} -> ${out}`);
  return 0;
}

/** Known base: pass (and clear any old record). Unknown: fail, unless accepted by its fingerprint. */
function verify(context: CommandContext, paths: Record<BaseFileKind, string>, accept: string | undefined, record: string): number {
  const files = Object.fromEntries(BASE_FILE_KINDS.map((kind) => [kind, { path: paths[kind], text: readInput(paths[kind]) }])) as Record<BaseFileKind, { path: string; text: string }>;
  const verdict = verifyBase(files);
  if (verdict.known) {
    rmSync(record, { force: true });
    context.log.info(`templates: base verified (versions this release was checked against): ${verdict.files.map((file) => `${file.path} ${file.fingerprint}`).join(", ")}`);
    if (accept) context.log.info(`templates: MPI_ACCEPT_UNVERIFIED_BASE=${accept} is not needed for this base and was ignored`);
    return 0;
  }
  if (accept !== verdict.fingerprint) throw new UserError(unknownBaseMessage(verdict, accept));
  writeOutput(record, `${JSON.stringify(unverifiedRecord(verdict))}\n`);
  context.log.warn(`templates: building on an unverified base (fingerprint ${verdict.fingerprint}), accepted with MPI_ACCEPT_UNVERIFIED_BASE: ${verdict.files.filter((f) => f.drift).map((f) => `${f.path}: ${f.drift}`).join("; ")}`);
  return 0;
}

function readInput(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new UserError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, 1, { cause: error });
  }
}

function writeOutput(path: string, text: string): void {
  try {
    writeFileAtomic(path, text, { mode: 0o644 });
  } catch (error) {
    throw new UserError(`cannot write ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, 1, { cause: error });
  }
}

const TRAILING_FLAGS = ["from", "out", "entrypoint", "supervisord", "accept", "record"] as const;
type TrailingFlag = (typeof TRAILING_FLAGS)[number];

/**
 * The CLI hands everything after the first positional (the action) over untouched, so the
 * documented `templates extract --from FILE --out FILE` order is parsed here.
 */
export function parseTrailingFlags(words: readonly string[]): Partial<Record<TrailingFlag, string>> {
  const result: Partial<Record<TrailingFlag, string>> = {};
  for (let index = 0; index < words.length; index++) {
    const word = words[index]!;
    const match = /^--([a-z]+)(?:=(.*))?$/.exec(word);
    const name = match?.[1] as TrailingFlag | undefined;
    if (!match || !name || !TRAILING_FLAGS.includes(name)) {
      throw new UserError(`templates: unexpected \`${word}\`; expected flags ${TRAILING_FLAGS.map((f) => `--${f}`).join(", ")}`, 2);
    }
    const value = match[2] ?? words[++index];
    // --accept may be empty: an unset build argument arrives as `--accept=`.
    if (value === undefined || (value === "" && name !== "accept")) throw new UserError(`templates: --${name} expects a value`, 2);
    result[name] = value;
  }
  return result;
}
