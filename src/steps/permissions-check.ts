import { lstatSync, readdirSync, readFileSync, statSync, type Stats } from "node:fs";
import { join } from "node:path";
import { errnoText } from "../errors.ts";

// `postfix set-permissions` is a shell script that spawns a process per entry of Postfix's own
// file list ($meta_directory/postfix-files and postfix-files.d/*), slow on every start. This
// reads the same list and checks, without changing anything, whether every entry already has
// the owner, group and mode set-permissions would give it. Only when something differs (or an
// entry is not understood) the real tool runs, exactly as the stock start runs it. The rules
// mirror post-install's set-permissions loop: `$`-paths only; hard and symbolic links skipped;
// obsolete (`o`) entries skipped; `r` means owner and group of everything below the directory
// and the mode of every directory below it (never of files: queue file status is in their mode).

/** One line of postfix-files: path:type:owner:group:mode:flags, `$names` not yet expanded. */
export interface PostfixFileEntry {
  path: string;
  type: string;
  owner: string;
  group: string;
  mode: string;
  flags: string;
}

/** The variables postfix-files uses; their values come from `postconf -h`. */
export const POSTFIX_FILES_VARIABLES = [
  "config_directory",
  "data_directory",
  "daemon_directory",
  "queue_directory",
  "command_directory",
  "shlib_directory",
  "meta_directory",
  "sendmail_path",
  "newaliases_path",
  "mailq_path",
  "manpage_directory",
  "sample_directory",
  "readme_directory",
  "html_directory",
  "mail_owner",
  "setgid_group",
] as const;

/** Entries of a postfix-files text; comments and blank lines dropped. Pure. */
export function parsePostfixFiles(text: string): PostfixFileEntry[] {
  const entries: PostfixFileEntry[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "" || line.startsWith("#")) continue;
    const [path = "", type = "", owner = "", group = "", mode = "", flags = ""] = line.split(":");
    entries.push({ path, type, owner, group, mode, flags });
  }
  return entries;
}

/** Reads users and groups as the tools (chown/chgrp) would resolve them. */
export interface IdLookup {
  uid(name: string): number | undefined;
  gid(name: string): number | undefined;
}

/** Name -> numeric id (third field) of an /etc/passwd- or /etc/group-format text; malformed lines skipped. Pure. */
export function parseIdTable(text: string): Map<string, number> {
  const ids = new Map<string, number>();
  for (const line of text.split("\n")) {
    const [name, , id] = line.split(":");
    if (name && id !== undefined && /^\d+$/.test(id)) ids.set(name, Number(id));
  }
  return ids;
}

/** Name -> id from /etc/passwd and /etc/group (the container's own: no NSS modules there). */
export function idLookupFromFiles(passwdFile = "/etc/passwd", groupFile = "/etc/group"): IdLookup {
  const users = parseIdTable(readFileSync(passwdFile, "utf8"));
  const groups = parseIdTable(readFileSync(groupFile, "utf8"));
  const numeric = (name: string) => (/^\d+$/.test(name) ? Number(name) : undefined);
  return { uid: (name) => users.get(name) ?? numeric(name), gid: (name) => groups.get(name) ?? numeric(name) };
}

/** Expand `$name` (whole field, as post-install's eval does); undefined when a name is unknown. */
function expand(field: string, variables: Record<string, string>): string | undefined {
  if (!field.startsWith("$")) return field;
  const [name, ...rest] = field.slice(1).split("/");
  const value = variables[name!];
  if (value === undefined) return undefined;
  return [value, ...rest].join("/");
}

interface Expected {
  uid: number;
  gid: number | undefined;
  mode: number;
}

/**
 * The first reason set-permissions would change something, or undefined when every entry is
 * already as listed. Reads the file system, changes nothing.
 */
export function findPermissionDrift(
  entries: readonly PostfixFileEntry[],
  variables: Record<string, string>,
  ids: IdLookup,
): string | undefined {
  for (const entry of entries) {
    if (!entry.path.startsWith("$")) continue;
    if (entry.type === "h" || entry.type === "l") continue;
    if (entry.type !== "d" && entry.type !== "f") return `unknown entry type ${JSON.stringify(entry.type)} for ${entry.path}`;
    if (entry.flags.includes("o")) continue;
    const path = expand(entry.path, variables);
    const owner = expand(entry.owner, variables);
    const group = entry.group === "-" || entry.group === "" ? "" : expand(entry.group, variables);
    if (path === undefined || owner === undefined || group === undefined) return `${entry.path}: a variable that is not known here`;
    if (path === "no" || path.startsWith("no/")) continue;
    const uid = ids.uid(owner);
    const gid = group === "" ? undefined : ids.gid(group);
    if (uid === undefined || (group !== "" && gid === undefined)) return `${path}: unknown owner ${owner} or group ${group}`;
    if (!/^[0-7]{3,4}$/.test(entry.mode)) return `${path}: mode ${JSON.stringify(entry.mode)} not understood`;
    const expected: Expected = { uid, gid, mode: Number.parseInt(entry.mode, 8) };
    let stat: Stats;
    try {
      // Followed, as chown, chmod and `test -d` follow it (Debian links makedefs.out, for one).
      stat = statSync(path);
    } catch {
      return `${path} is missing`;
    }
    if ((entry.type === "d") !== stat.isDirectory()) return `${path} is not a ${entry.type === "d" ? "directory" : "file"}`;
    const own = differs(path, stat, expected, true);
    if (own) return own;
    if (entry.flags.includes("r") && entry.type === "d") {
      const below = driftBelow(path, expected);
      if (below) return below;
    }
  }
  return undefined;
}

function differs(path: string, stat: Stats, expected: Expected, checkMode: boolean): string | undefined {
  if (stat.uid !== expected.uid) return `${path} is owned by uid ${stat.uid}, not ${expected.uid}`;
  if (expected.gid !== undefined && stat.gid !== expected.gid) return `${path} has group ${stat.gid}, not ${expected.gid}`;
  if (checkMode && (stat.mode & 0o7777) !== expected.mode)
    return `${path} has mode ${(stat.mode & 0o7777).toString(8)}, not ${expected.mode.toString(8)}`;
  return undefined;
}

/** chown -R / chgrp -R / `find -type d -exec chmod` of one directory, as a read-only check. */
function driftBelow(dir: string, expected: Expected): string | undefined {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    return `${dir}: cannot list (${errnoText(error)})`;
  }
  for (const name of names) {
    const path = join(dir, name);
    let stat: Stats;
    try {
      stat = lstatSync(path);
    } catch {
      continue; // gone while we looked (a queue file delivered): nothing to fix
    }
    if (stat.isSymbolicLink()) return `${path} is a symbolic link`;
    const found = differs(path, stat, expected, stat.isDirectory());
    if (found) return found;
    if (stat.isDirectory()) {
      const deeper = driftBelow(path, expected);
      if (deeper) return deeper;
    }
  }
  return undefined;
}

/** postfix-files and postfix-files.d/* (sorted, as post-install reads them), parsed. */
export function readPostfixFiles(metaDirectory: string): PostfixFileEntry[] {
  const files = [join(metaDirectory, "postfix-files")];
  const extra = join(metaDirectory, "postfix-files.d");
  try {
    files.push(
      ...readdirSync(extra)
        .sort()
        .map((name) => join(extra, name)),
    );
  } catch {
    // no postfix-files.d: only the main list
  }
  return files.flatMap((file) => parsePostfixFiles(readFileSync(file, "utf8")));
}
