import { createHash } from "node:crypto";
import { HeredocShapeError, basicRegexToJs, expandHeredocBody } from "./heredoc.ts";
import { TEMPLATES_FORMAT, type Template, type TemplateVariable, type Templates } from "./template.ts";

// Reads mailcow's /opt/postfix.sh as text (never runs it) and lifts out the file bodies it
// writes. The script's shape is checked strictly: an unknown heredoc target, a missing block or
// a construct we cannot expand stops the image build with a message saying what was expected.

const CONF = "/opt/postfix/conf";
const DNSBL_FILE = `${CONF}/dns_blocklists.cf`;
const SQL_VARIABLES: TemplateVariable[] = ["DBUSER", "DBPASS", "DBNAME"];
const DQS_VARIABLES: TemplateVariable[] = ["SPAMHAUS_DQS_KEY"];

/** Heredoc-written files we know, by container path (SQL maps are matched separately). */
const FILE_TARGETS = {
  "/etc/aliases": "aliases",
  [DNSBL_FILE]: "dnsblSites",
  [`${CONF}/dnsbl_reply.map`]: "spamhausDqsReplyMap",
  [`${CONF}/custom_postscreen_whitelist.cidr`]: "postscreenWhitelist",
} as const;
type FileBlock = (typeof FILE_TARGETS)[keyof typeof FILE_TARGETS];

export const HEREDOC = /<<(-?)\s*(['"]?)([A-Za-z_][A-Za-z0-9_]*)\2/;
const FILE_HEREDOC = /^\s*cat\s+<<-?\s*(['"]?)[A-Za-z_][A-Za-z0-9_]*\1\s*>\s*(\S+)\s*$/;
const VARIABLE_HEREDOC = /^\s*([A-Za-z_][A-Za-z0-9_]*)=\$\(\s*cat\s+<<-?\s*(['"]?)[A-Za-z_][A-Za-z0-9_]*\2\s*$/;
const DISCONTINUED_SED = /^\s*sed\s+-i\s+'\/(.*)\/d'\s+(\S+)\s*(#.*)?$/;

export class ExtractError extends HeredocShapeError {
  override name = "ExtractError";
}

interface Heredoc {
  line: number;
  delimiter: string;
  quoted: boolean;
  stripTabs: boolean;
  body: string;
}

/** Extract every template from the script text; `path` is recorded in the result and errors. */
export function extractTemplates(script: string, path: string): Templates {
  const lines = script.replace(/\r\n/g, "\n").split("\n");
  const files: Partial<Record<FileBlock, Template>> = {};
  const sqlMaps: Record<string, Template> = {};
  const spamhaus: { dqs?: Template; open?: Template } = {};
  const discontinuedDnsbl: string[] = [];

  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!;
    const lineNo = index + 1;
    const sed = DISCONTINUED_SED.exec(line);
    if (sed && sed[2] === DNSBL_FILE) {
      discontinuedDnsbl.push(basicRegexToJs(sed[1]!, `${path}:${lineNo}`));
      continue;
    }
    if (/\bsed\b/.test(line) && line.includes(DNSBL_FILE)) {
      throw new ExtractError(`${path}:${lineNo}: unrecognized edit of ${DNSBL_FILE}; expected sed -i '/PATTERN/d' ${DNSBL_FILE}`);
    }
    if (!HEREDOC.test(line.replace(/<<</g, ""))) continue;
    const heredoc = readHeredoc(lines, index, path);
    index = heredoc.endIndex;
    const where = `${path}:${lineNo}`;
    const fileMatch = FILE_HEREDOC.exec(line);
    const variableMatch = VARIABLE_HEREDOC.exec(line);
    if (fileMatch) {
      const target = fileMatch[2]!.replace(/^(['"])(.*)\1$/, "$2");
      const sqlName = target.startsWith(`${CONF}/sql/`) ? target.slice(`${CONF}/sql/`.length) : undefined;
      if (sqlName !== undefined) {
        if (!/^[A-Za-z0-9_.-]+\.cf$/.test(sqlName))
          throw new ExtractError(`${where}: unexpected SQL map name ${target}; expected ${CONF}/sql/NAME.cf`);
        if (sqlMaps[sqlName]) throw new ExtractError(`${where}: ${target} is written twice; expected one heredoc per SQL map`);
        sqlMaps[sqlName] = expand(heredoc, SQL_VARIABLES, `${where} (${target})`);
        continue;
      }
      const block = (FILE_TARGETS as Record<string, FileBlock>)[target];
      if (!block) {
        throw new ExtractError(
          `${where}: unexpected heredoc target ${target}; expected one of ${[...Object.keys(FILE_TARGETS), `${CONF}/sql/*.cf`].join(", ")}`,
        );
      }
      if (files[block]) throw new ExtractError(`${where}: ${target} is written twice; expected one heredoc`);
      files[block] = expand(heredoc, block === "spamhausDqsReplyMap" ? DQS_VARIABLES : [], `${where} (${target})`);
    } else if (variableMatch && variableMatch[1] === "SPAMHAUS_DNSBL_CONFIG") {
      // $(cat <<EOF ...) keeps the body minus its trailing newlines.
      const keyed = /\$\{?SPAMHAUS_DQS_KEY\b/.test(heredoc.body);
      const kind = keyed ? "dqs" : "open";
      if (spamhaus[kind])
        throw new ExtractError(`${where}: a second ${keyed ? "keyed (DQS)" : "open"} SPAMHAUS_DNSBL_CONFIG block; expected one of each`);
      spamhaus[kind] = stripTrailingNewlines(expand(heredoc, keyed ? DQS_VARIABLES : [], `${where} (SPAMHAUS_DNSBL_CONFIG)`));
    } else {
      throw new ExtractError(
        `${where}: unrecognized heredoc \`${line.trim()}\`; expected \`cat <<EOF > PATH\` or \`SPAMHAUS_DNSBL_CONFIG=$(cat <<EOF\``,
      );
    }
  }

  const missing: string[] = [];
  for (const [target, block] of Object.entries(FILE_TARGETS)) if (!files[block]) missing.push(`a heredoc writing ${target}`);
  if (Object.keys(sqlMaps).length === 0) missing.push(`heredocs writing ${CONF}/sql/*.cf`);
  if (!spamhaus.dqs) missing.push("a SPAMHAUS_DNSBL_CONFIG=$(cat <<EOF block using ${SPAMHAUS_DQS_KEY}");
  if (!spamhaus.open) missing.push("a SPAMHAUS_DNSBL_CONFIG=$(cat <<EOF block without a key (open lists)");
  if (missing.length) throw new ExtractError(`${path}: not the expected mailcow postfix.sh shape; missing ${missing.join("; ")}`);

  return {
    format: TEMPLATES_FORMAT,
    source: { path, sha256: createHash("sha256").update(script).digest("hex") },
    aliases: files.aliases!,
    sqlMaps: Object.fromEntries(Object.entries(sqlMaps).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
    dnsblSites: files.dnsblSites!,
    discontinuedDnsbl,
    spamhausDqsSites: spamhaus.dqs!,
    spamhausDqsReplyMap: files.spamhausDqsReplyMap!,
    spamhausOpenSites: spamhaus.open!,
    postscreenWhitelist: files.postscreenWhitelist!,
  };
}

function readHeredoc(lines: string[], start: number, path: string): Heredoc & { endIndex: number } {
  const match = HEREDOC.exec(lines[start]!)!;
  const stripTabs = match[1] === "-";
  const delimiter = match[3]!;
  const body: string[] = [];
  for (let index = start + 1; index < lines.length; index++) {
    const line = stripTabs ? lines[index]!.replace(/^\t+/, "") : lines[index]!;
    if (line === delimiter) {
      return { line: start + 1, delimiter, quoted: match[2] !== "", stripTabs, body: body.map((l) => `${l}\n`).join(""), endIndex: index };
    }
    body.push(line);
  }
  throw new ExtractError(`${path}:${start + 1}: heredoc never ends; expected a line \`${delimiter}\``);
}

function expand(heredoc: Heredoc, allowed: TemplateVariable[], where: string): Template {
  if (heredoc.quoted) return heredoc.body ? [heredoc.body] : [];
  try {
    return expandHeredocBody(heredoc.body, allowed, where);
  } catch (error) {
    throw new ExtractError((error as Error).message, { cause: error });
  }
}

function stripTrailingNewlines(template: Template): Template {
  const result = [...template];
  while (result.length) {
    const last = result[result.length - 1]!;
    if (typeof last !== "string") break;
    const trimmed = last.replace(/\n+$/, "");
    if (trimmed) {
      result[result.length - 1] = trimmed;
      break;
    }
    result.pop();
  }
  return result;
}
