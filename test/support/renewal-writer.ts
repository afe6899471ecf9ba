// A renewal landing in a certificate directory the ways real writers do it, as a process of its
// own (so it runs truly beside the code under test), driven one renewal at a time:
//   bun renewal-writer.ts        stdin: one JSON Renewal per line; stdout: "done\n" after each
// Every pause is random (up to the given bounds), so renewals meet the reader at every phase.
import { closeSync, cpSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";

export const RENEWAL_WAYS = ["in-place", "cp", "mv-each", "mv-dir", "slow"] as const;
export type RenewalWay = (typeof RENEWAL_WAYS)[number];

export interface Renewal {
  way: RenewalWay;
  /** The certificate directory (cert.pem, key.pem, domains). */
  dir: string;
  /** A directory holding the new cert.pem, key.pem and domains. */
  from: string;
  /** A scratch directory on the same file system, outside the SSL dir. */
  scratch: string;
  /** Longest pause between steps (ms); the slow writer pauses up to 3 times this mid-file. */
  maxPauseMs: number;
}

const sleep = (ms: number) => Bun.sleepSync(Math.floor(ms));
const random = (max: number) => Math.random() * max;

function writeInChunks(path: string, bytes: Buffer, chunks: number, pauseMs: number): void {
  const fd = openSync(path, "w"); // truncates, as cp and shell redirection do
  const size = Math.ceil(bytes.length / chunks);
  for (let offset = 0; offset < bytes.length; offset += size) {
    writeSync(fd, bytes.subarray(offset, offset + size));
    if (offset + size < bytes.length) sleep(random(pauseMs));
  }
  closeSync(fd);
}

export function land(renewal: Renewal): void {
  const { dir, from, scratch, maxPauseMs } = renewal;
  const files = ["cert.pem", "key.pem"].map((name) => ({ name, bytes: readFileSync(join(from, name)) }));
  // Writers differ in order: acme writes the certificate first, some scripts the key.
  if (Math.random() < 0.5) files.reverse();
  switch (renewal.way) {
    case "in-place":
      for (const [index, file] of files.entries()) {
        if (index > 0) sleep(random(maxPauseMs));
        writeInChunks(join(dir, file.name), file.bytes, 1, 0);
      }
      break;
    case "cp": {
      const cp = Bun.spawnSync(["cp", ...files.map((file) => join(from, file.name)), `${dir}/`]);
      if (cp.exitCode !== 0) throw new Error(`cp failed: ${cp.stderr.toString()}`);
      break;
    }
    case "mv-each":
      for (const [index, file] of files.entries()) {
        cpSync(join(from, file.name), join(scratch, file.name));
        if (index > 0) sleep(random(maxPauseMs));
        renameSync(join(scratch, file.name), join(dir, file.name));
      }
      break;
    case "mv-dir":
      rmSync(join(scratch, "new"), { recursive: true, force: true });
      cpSync(from, join(scratch, "new"), { recursive: true });
      renameSync(dir, join(scratch, "old"));
      sleep(random(maxPauseMs / 4));
      renameSync(join(scratch, "new"), dir);
      rmSync(join(scratch, "old"), { recursive: true, force: true });
      break;
    case "slow":
      for (const [index, file] of files.entries()) {
        if (index > 0) sleep(random(maxPauseMs));
        writeInChunks(join(dir, file.name), file.bytes, 2 + Math.floor(random(3)), 3 * maxPauseMs);
      }
      break;
  }
}

if (import.meta.main) {
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of Bun.stdin.stream()) {
    pending += decoder.decode(chunk);
    for (let newline = pending.indexOf("\n"); newline >= 0; newline = pending.indexOf("\n")) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      land(JSON.parse(line) as Renewal);
      process.stdout.write("done\n");
    }
  }
}
