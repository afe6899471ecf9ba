import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../errors.ts";
import type { Logger } from "../log.ts";

// A master.pid left by a killed container makes Postfix refuse to start; today's script
// deletes it unconditionally, even when a live master still holds it. Here it goes only when
// Postfix's own test (`master -t`: is the file locked?) says no master runs.

export async function removeStaleMasterPid(spoolDir: string, isMasterRunning: () => Promise<boolean>, log: Logger): Promise<void> {
  const pidFile = join(spoolDir, "pid", "master.pid");
  if (!existsSync(pidFile)) return;
  if (await isMasterRunning()) {
    const pid = readFileSync(pidFile, "utf8").trim();
    throw new UserError(`a Postfix master (pid ${pid || "unknown"}) still holds ${pidFile}; stop it before starting another`);
  }
  rmSync(pidFile, { force: true });
  log.info(`removed stale ${pidFile}`);
}
