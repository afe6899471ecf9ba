import { readFileSync, rmSync } from "node:fs";
import { defineCommand, type CommandGroup } from "../command.ts";
import type { Logger } from "../log.ts";
import { errnoText, UserError } from "../errors.ts";
import type { BaseFileKind } from "../templates/fingerprint.ts";
import { DEFAULT_TEMPLATES_PATH, DEFAULT_UNVERIFIED_BASE_FILE } from "./shared-options.ts";

// `templates extract` and `templates verify`: run by the image build against the base image's
// own files, so the verbatim file bodies come from the mailcow version the image is built from,
// and a version whose startup logic this release does not know stops the build.
// `templates fingerprint` prints the entries a maintainer adds to src/templates/known-bases.json
// once `start` has been checked against that version. src/templates/ (its schema, the known
// bases) is imported when an action runs (command.ts).

const file = (description: string, fallback: string, env?: string) =>
  ({ type: "string", description, valueName: "FILE", default: fallback, ...(env ? { env } : {}) }) as const;

const FROM = file("mailcow's postfix startup script to read", "/opt/postfix.sh");
/** The base's three startup files, as `templates verify` and `templates fingerprint` read them. */
const BASE_FILES = {
  from: FROM,
  entrypoint: file("The base image's entrypoint script", "/docker-entrypoint.sh"),
  supervisord: file("The base image's supervisord.conf", "/etc/supervisor/supervisord.conf"),
} as const;

const basePaths = (options: { from: string; entrypoint: string; supervisord: string }): Record<BaseFileKind, string> => ({
  "postfix.sh": options.from,
  "docker-entrypoint.sh": options.entrypoint,
  "supervisord-program-postfix": options.supervisord,
});

const extractCommand = defineCommand({
  name: "extract",
  summary: "Extract the file templates from mailcow's postfix.sh into a JSON file for start",
  options: { from: FROM, out: file("Templates JSON to write", DEFAULT_TEMPLATES_PATH, "MPI_TEMPLATES") },
  run: async ({ options, log }) => extract(log, options.from, options.out),
});

const verifyCommand = defineCommand({
  name: "verify",
  summary: "Check that the base image's startup files are a version this release was checked against",
  options: {
    ...BASE_FILES,
    accept: {
      type: "string",
      description: "Build on this unknown base anyway; every start then warns",
      valueName: "FINGERPRINT",
      env: "MPI_ACCEPT_UNVERIFIED_BASE",
      allowEmpty: true,
    },
    record: file("Where verify records an accepted unknown base for start", DEFAULT_UNVERIFIED_BASE_FILE, "MPI_UNVERIFIED_BASE_FILE"),
  },
  run: async ({ options, log, stdout }) => verify(log, stdout, basePaths(options), options.accept?.trim() || undefined, options.record),
});

const fingerprintCommand = defineCommand({
  name: "fingerprint",
  summary: "Print the known-bases.json entries for the base image's startup files",
  options: BASE_FILES,
  async run({ options, stdout }) {
    const { BASE_FILE_KINDS, fingerprintFile } = await import("../templates/fingerprint.ts");
    const paths = basePaths(options);
    const entries = Object.fromEntries(
      BASE_FILE_KINDS.map((kind) => [kind, { ...fingerprintFile(kind, readInput(paths[kind])), sources: [paths[kind]] }]),
    );
    stdout(`${JSON.stringify(entries, null, 2)}\n`);
    return 0;
  },
});

export const templatesCommand: CommandGroup = {
  name: "templates",
  summary:
    "Extract the file templates from mailcow's postfix.sh (`templates extract`); check the base's startup files (`templates verify`)",
  subcommands: [extractCommand, verifyCommand, fingerprintCommand],
};

async function extract(log: Logger, from: string, out: string): Promise<number> {
  const { ExtractError, extractTemplates } = await import("../templates/extract.ts");
  const script = readInput(from);
  let templates: ReturnType<typeof extractTemplates>;
  try {
    templates = extractTemplates(script, from);
  } catch (error) {
    if (error instanceof ExtractError) throw new UserError(error.message, 1, { cause: error });
    throw error;
  }
  await writeOutput(out, `${JSON.stringify(templates, null, 2)}\n`);
  log.info(
    `templates: ${Object.keys(templates.sqlMaps).length} SQL maps, ${templates.discontinuedDnsbl.length} discontinued DNSBL patterns from ${from} -> ${out}`,
  );
  return 0;
}

/**
 * Known base: pass (and clear any old record). Unknown: fail with UNKNOWN_BASE_EXIT, the message
 * for people on stderr and the verdict line for the update hook on stdout, unless accepted by its fingerprint.
 */
async function verify(
  log: Logger,
  stdout: (text: string) => void,
  paths: Record<BaseFileKind, string>,
  accept: string | undefined,
  record: string,
): Promise<number> {
  const { BASE_FILE_KINDS } = await import("../templates/fingerprint.ts");
  const { driftSummary, UNKNOWN_BASE_EXIT, unknownBaseMessage, unverifiedRecord, verdictLine, verifyBase } = await import(
    "../templates/verify.ts"
  );
  const files = Object.fromEntries(BASE_FILE_KINDS.map((kind) => [kind, { path: paths[kind], text: readInput(paths[kind]) }])) as Record<
    BaseFileKind,
    { path: string; text: string }
  >;
  const verdict = verifyBase(files);
  if (verdict.known) {
    rmSync(record, { force: true });
    log.info(
      `templates: base verified (versions this release was checked against): ${verdict.files.map((file) => `${file.path} ${file.fingerprint}`).join(", ")}`,
    );
    if (accept) log.info(`templates: MPI_ACCEPT_UNVERIFIED_BASE=${accept} is not needed for this base and was ignored`);
    return 0;
  }
  if (accept !== verdict.fingerprint) {
    stdout(`${verdictLine(verdict, accept)}\n`);
    throw new UserError(unknownBaseMessage(verdict, accept), UNKNOWN_BASE_EXIT);
  }
  await writeOutput(record, `${JSON.stringify(unverifiedRecord(verdict))}\n`);
  log.warn(
    `templates: building on an unverified base (fingerprint ${verdict.fingerprint}), accepted with MPI_ACCEPT_UNVERIFIED_BASE: ${driftSummary(verdict)}`,
  );
  return 0;
}

function readInput(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new UserError(`cannot read ${path}: ${errnoText(error)}`, 1, { cause: error });
  }
}

async function writeOutput(path: string, text: string): Promise<void> {
  const { writeFileAtomic } = await import("../atomic-write.ts");
  try {
    writeFileAtomic(path, text, { mode: 0o644 });
  } catch (error) {
    throw new UserError(`cannot write ${path}: ${errnoText(error)}`, 1, { cause: error });
  }
}
