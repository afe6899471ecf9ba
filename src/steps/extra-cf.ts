import { join } from "node:path";
import { readTextIfExists, writeIfChanged } from "./files.ts";

// extra.cf holds the admin's own settings; it must start with `myhostname = MAILCOW_HOSTNAME`.
// Only `myhostname = ...` assignments are replaced: mailcow's script deletes every line that
// mentions myhostname without a `$`, comments and other parameters included.

const MYHOSTNAME_ASSIGNMENT = /^\s*myhostname\s*=/;

/** The new extra.cf for `current` (the existing text, "" when there is none). Pure. */
export function renderExtraCf(current: string, hostname: string): string {
  const kept = current.split("\n").filter((line) => !MYHOSTNAME_ASSIGNMENT.test(line));
  const body = kept.join("\n").replace(/\n+$/, "");
  return `myhostname = ${hostname}\n${body}\n`;
}

/** Rewrite CONF/extra.cf and return its content for main.cf. Unreadable -> UserError. */
export function updateExtraCf(confDir: string, hostname: string): string {
  const path = join(confDir, "extra.cf");
  const content = renderExtraCf(readTextIfExists(path) ?? "", hostname);
  writeIfChanged(path, content, { mode: 0o644, preserve: true });
  return content;
}
