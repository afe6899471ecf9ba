import { chownSync, type Dirent, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join, relative } from "node:path";
import { daemonDirectory, freePort, minimalMasterCf, postfixUid, waitForBanner } from "./postfix-server.ts";
import { writeSettledFile } from "./tmp.ts";

// Postfix queue files for restore scenarios. mailcow leaves enable_long_queue_ids off, so a
// queue file's name is 5 hex digits of microseconds followed by its inode number in hex; a
// spool restored from a tar backup gets new inodes, and its files' names no longer match until
// `postsuper` (run by `postfix start` before master) renames them.

export interface QueueFile {
  /** Queue directory and file, relative to the spool: "hold/4B2A01C3F". */
  path: string;
  queue: string;
  name: string;
  /** Whether the name still encodes the file's inode. */
  nameMatchesInode: boolean;
  /** Owner, group and mode as `uid:gid mode`. */
  owner: string;
}

const QUEUES = ["incoming", "active", "deferred", "hold", "corrupt"];

/** A short queue ID names its file's inode after 5 hex digits of microseconds. Pure. */
export function nameMatchesInode(name: string, inode: number | bigint): boolean {
  return /^[0-9A-F]{6,}$/.test(name) && name.slice(5) === inode.toString(16).toUpperCase();
}

/** Every message file in the spool's queues (hashed subdirectories included), sorted by path. */
export function queueFiles(spool: string): QueueFile[] {
  const found: QueueFile[] = [];
  const visit = (dir: string, queue: string) => {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) visit(path, queue);
      else if (entry.isFile()) {
        const stat = statSync(path, { bigint: true });
        found.push({
          path: relative(spool, path),
          queue,
          name: entry.name,
          nameMatchesInode: nameMatchesInode(entry.name, stat.ino),
          owner: `${stat.uid}:${stat.gid} ${(Number(stat.mode) & 0o7777).toString(8)}`,
        });
      }
    }
  };
  for (const queue of QUEUES) visit(join(spool, queue), queue);
  return found.sort((a, b) => a.path.localeCompare(b.path));
}

/**
 * Restore `spool` from a tar archive of it, as mailcow's backup_and_restore.sh restores the
 * postfix volume: every file gets a new inode. The old contents are moved aside first and
 * removed after the extraction, so no inode number can be reused for the same file.
 */
export function restoreSpoolFromTar(spool: string, archive: string): void {
  const aside = `${spool}.before-restore`;
  mkdirSync(aside);
  for (const name of readdirSync(spool)) renameSync(join(spool, name), join(aside, name));
  const tar = Bun.spawnSync(["tar", "-C", spool, "-xpf", archive]);
  if (tar.exitCode !== 0) throw new Error(`tar -x into ${spool} failed: ${tar.stderr.toString()}`);
  rmSync(aside, { recursive: true, force: true });
}

/** `tar -c` of a spool (sockets are left out by tar, as in a real backup). */
export function archiveSpool(spool: string, archive: string): void {
  const tar = Bun.spawnSync(["tar", "-C", spool, "-cpf", archive, "."]);
  if (tar.exitCode !== 0 && tar.exitCode !== 1) throw new Error(`tar -c of ${spool} failed: ${tar.stderr.toString()}`);
}

/**
 * A spool archive holding one message on hold, made by a throwaway Postfix (its own config,
 * queue and loopback port; `header_checks` puts the message on hold as it arrives). `marker`
 * is in the message body. Returns the archive's path.
 */
export async function makeHeldMessageArchive(dir: string, marker: string, recipient: string): Promise<string> {
  const confDir = join(dir, "conf");
  const spool = join(dir, "spool");
  for (const path of [confDir, spool, join(dir, "data")]) mkdirSync(path, { recursive: true });
  chownSync(join(dir, "data"), postfixUid(), -1);
  const port = await freePort();
  writeFileSync(join(confDir, "hold_checks"), "/^Subject: restore test/ HOLD\n");
  writeSettledFile(
    join(confDir, "main.cf"),
    [
      "compatibility_level = 3.6",
      `queue_directory = ${spool}`,
      `data_directory = ${dir}/data`,
      "inet_interfaces = 127.0.0.1",
      "inet_protocols = ipv4",
      "myhostname = queue-maker.invalid",
      "mydestination =",
      "mynetworks = 127.0.0.0/8",
      `maillog_file_prefixes = ${dir}`,
      `maillog_file = ${dir}/maillog`,
      `header_checks = regexp:${confDir}/hold_checks`,
      "",
    ].join("\n"),
  );
  const services = ["cleanup unix n - n - 0 cleanup", "qmgr unix n - n 300 1 qmgr", "rewrite unix - - n - - trivial-rewrite", ""];
  writeSettledFile(join(confDir, "master.cf"), minimalMasterCf(`127.0.0.1:${port}`) + services.join("\n"));
  const setup = Bun.spawnSync(["postfix", "-c", confDir, "post-install", "create-missing"]);
  if (setup.exitCode !== 0) throw new Error(`creating the queue maker's queue failed: ${setup.stderr.toString()}`);
  const master = Bun.spawn([join(daemonDirectory(), "master"), "-s", "-c", confDir], { stdout: "ignore", stderr: "pipe" });
  try {
    await waitForBanner(port, 10_000);
    await sendMessage(port, "sender@example.test", recipient, `Subject: restore test\r\n\r\n${marker}\r\n`);
    const deadline = Date.now() + 10_000;
    while (!queueFiles(spool).some((file) => file.queue === "hold")) {
      if (Date.now() > deadline) throw new Error(`the message did not reach the hold queue: ${JSON.stringify(queueFiles(spool))}`);
      await Bun.sleep(50);
    }
  } finally {
    master.kill("SIGTERM");
    await master.exited;
  }
  const archive = join(dir, "spool.tar");
  archiveSpool(spool, archive);
  return archive;
}

/** One SMTP transaction on 127.0.0.1:PORT; rejects on any unexpected reply. */
export async function sendMessage(port: number, from: string, to: string, message: string): Promise<void> {
  const socket = connect({ host: "127.0.0.1", port });
  let buffer = "";
  const waiters: ((line: string) => void)[] = [];
  socket.on("data", (data) => {
    buffer += data.toString();
    for (let end = buffer.indexOf("\r\n"); end !== -1; end = buffer.indexOf("\r\n")) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (/^\d{3} /.test(line)) waiters.shift()?.(line);
    }
  });
  const reply = () =>
    new Promise<string>((resolve, reject) => {
      waiters.push(resolve);
      socket.once("error", reject);
    });
  const expect = async (code: string, command?: string) => {
    const waiting = reply();
    if (command !== undefined) socket.write(`${command}\r\n`);
    const line = await waiting;
    if (!line.startsWith(code)) throw new Error(`SMTP ${command ?? "greeting"}: expected ${code}, got ${line}`);
  };
  try {
    await expect("220");
    await expect("250", "EHLO client.example.test");
    await expect("250", `MAIL FROM:<${from}>`);
    await expect("250", `RCPT TO:<${to}>`);
    await expect("354", "DATA");
    await expect("250", `${message}.`);
    await expect("221", "QUIT");
  } finally {
    socket.destroy();
  }
}
