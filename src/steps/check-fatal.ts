import { existsSync } from "node:fs";
import { MAX_CONF_BYTES, readBoundedText } from "../bounded-read.ts";
import { join } from "node:path";
import { UserError } from "../errors.ts";
import type { Logger } from "../log.ts";
import {
  postconfCheckedRecord,
  postfixCreateMissing,
  postlogServiceDefined,
  postsuperRepair,
  QUEUE_LAYOUT,
  type PostfixTools,
} from "../postfix/index.ts";

// What `postfix start` checks before it starts master (postfix-script's check-fatal), with the
// same Postfix tools, since we exec master ourselves: missing queue directories created, master.cf
// present, a postlog service when maillog_file is set, and `postsuper` queue repair. The repair
// matters after a restore: mailcow leaves enable_long_queue_ids off, so queue file names encode
// inode numbers, and a spool restored with tar has new inodes. Runs after `master -t` said no
// master is running, as in postfix-script. (check-warn, which only logs ownership notes, and the
// quick-start shortcut of `postfix quick-stop` are left out: see the README.)

/**
 * `preparedLayout`: the QUEUE_LAYOUT values the set-permissions just run worked with. It implies
 * create-missing, so when CONF names the same directories, owner and group (as in mailcow's
 * image) create-missing would change nothing and is skipped (it is one of the slowest runs of a
 * start: docs/performance.md).
 */
export async function checkFatal(
  tools: PostfixTools,
  confDir: string,
  log: Logger,
  preparedLayout?: readonly string[],
  known?: CheckFatalValues,
): Promise<void> {
  const values = known ?? (await readCheckFatalValues(tools, confDir, log));
  const maillogFile = values.maillog_file;
  const layout = QUEUE_LAYOUT.map((name) => values[name]);
  if (!sameValues(layout, preparedLayout)) await postfixCreateMissing(tools, confDir, log);
  const masterCf = join(confDir, "master.cf");
  if (!existsSync(masterCf)) throw new UserError(`no ${masterCf} file found; Postfix cannot start without it`);
  // The postlog check and the queue repair are independent: side by side. As in
  // postfix-script, a missing postlog service is the failure reported.
  const postlogCheck =
    maillogFile === "" || masterCfNamesPostlog(masterCf) ? Promise.resolve(true) : postlogServiceDefined(tools, confDir, log);
  const [postlog, repair] = await Promise.allSettled([postlogCheck, postsuperRepair(tools, confDir, log)]);
  if (postlog.status === "rejected") throw postlog.reason;
  if (!postlog.value) {
    throw new UserError(
      `missing 'postlog' service in ${masterCf} (maillog_file = ${maillogFile} is written through it); ` +
        `add the line "postlog   unix-dgram n  -       n       -       1       postlogd" or run 'postfix -c ${confDir} upgrade-configuration'`,
    );
  }
  if (repair.status === "rejected") throw repair.reason;
}

/**
 * Whether a line of master.cf starts with `postlog unix-dgram`: a service's name and type are
 * always the first two fields of a line that does not start with white space (those continue
 * the previous one) or `#`. Found: defined, no postconf run needed; not found: `postconf -M`
 * decides, so an unusual spelling costs a tool run, never a wrong refusal.
 */
export function masterCfNamesPostlog(masterCf: string): boolean {
  let text: string;
  try {
    text = readBoundedText(masterCf, MAX_CONF_BYTES);
  } catch {
    return false;
  }
  return /^postlog[ \t]+unix-dgram(?:[ \t]|$)/m.test(text);
}

const PARAMETERS = ["daemon_directory", "maillog_file", ...QUEUE_LAYOUT] as const;
export type CheckFatalValues = Record<(typeof PARAMETERS)[number], string>;

/**
 * What check-fatal and the exec need from CONF's main.cf (daemon_directory for master), in one
 * postconf that is also the start's configuration check (a broken main.cf or master.cf fails it
 * with postconf's own words).
 */
export async function readCheckFatalValues(tools: PostfixTools, confDir: string, log: Logger): Promise<CheckFatalValues> {
  return postconfCheckedRecord(tools, confDir, PARAMETERS, log);
}

function sameValues(a: readonly string[], b: readonly string[] | undefined): boolean {
  return b !== undefined && a.length === b.length && a.every((value, index) => value === b[index]);
}
