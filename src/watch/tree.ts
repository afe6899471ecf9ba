import { readdirSync, statSync, watch, type FSWatcher } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { Logger } from "../log.ts";
import { errnoText } from "../errors.ts";

// inotify watches (node:fs watch is inotify on Linux; nothing here polls) on the SSL dir and
// on each directory directly below it: a directory watch reports writes, renames and removals
// of the files inside, so cert.pem, key.pem, the ecdsa pair and `domains` are all covered, and
// the SSL dir's own watch reports directories added, removed or swapped by mv. The set of
// watches is brought in line with the tree by sync(), which the watcher runs before each
// apply: a directory replaced by mv is a new inode and gets a new watch. Not recursive:
// mailcow's layout is one level deep, and deeper trees (backups/NAME/DATE/) hold nothing mapped.

export interface TreeWatch {
  /** Watch the directories now present, drop the ones gone; one log line per new problem. */
  sync(): void;
  close(): void;
  /** Directories watched (the SSL dir included). */
  readonly count: number;
}

interface Watched {
  watcher: FSWatcher;
  /** dev:ino of the directory watched: a directory swapped in by mv has another. */
  inode: string;
}

/** `onEvent(dir)`: something changed in `dir` (the SSL dir for its own files, else the subdirectory). */
export function watchCertificateTree(sslDirInput: string, onEvent: (dir: string) => void, log: Logger): TreeWatch {
  const sslDir = resolve(sslDirInput);
  const watched = new Map<string, Watched>();
  // A problem is logged when it appears and again only after it went away and came back.
  let reported = new Set<string>();
  let parentWatch: FSWatcher | undefined;

  const add = (dir: string, inode: string, listener: (file: string | null) => void, problems: Map<string, string>): boolean => {
    const current = watched.get(dir);
    if (current?.inode === inode) return true;
    current?.watcher.close();
    watched.delete(dir);
    try {
      const watcher = watch(dir, { persistent: true }, (_event, file) => listener(typeof file === "string" ? file : null));
      // A watched directory removed: the kernel drops the watch; the next sync notices.
      watcher.on("error", () => onEvent(dir));
      watched.set(dir, { watcher, inode });
      return true;
    } catch (error) {
      const code = errnoText(error);
      if (code === "ENOSPC")
        problems.set(
          "ENOSPC",
          `inotify watch limit reached (fs.inotify.max_user_watches on the host): changes inside some certificate directories are seen only with the next change elsewhere in ${sslDir}; raise the limit (sysctl fs.inotify.max_user_watches)`,
        );
      else if (code !== "ENOENT")
        problems.set(
          `${dir}:${code}`,
          `cannot watch ${dir} (${code}); changes there are seen only with the next change elsewhere in ${sslDir}`,
        );
      return code !== "ENOSPC";
    }
  };

  const sync = () => {
    const problems = new Map<string, string>();
    const top = inodeOf(sslDir);
    if (typeof top !== "string") {
      // The SSL dir itself is gone (or was never there): watch its parent for its return.
      for (const entry of watched.values()) entry.watcher.close();
      watched.clear();
      problems.set(`${sslDir}:${top.code}`, `cannot watch the SSL directory ${sslDir} (${top.code}); waiting for it to appear`);
      parentWatch ??= tryWatch(dirname(sslDir), () => onEvent(sslDir));
    } else {
      parentWatch?.close();
      parentWatch = undefined;
      add(sslDir, top, (file) => onEvent(file === null || isTopLevelFile(file) ? sslDir : join(sslDir, file)), problems);
      const present = new Set([sslDir]);
      let room = true;
      for (const name of listDirectories(sslDir, problems)) {
        const dir = join(sslDir, name);
        const inode = inodeOf(dir);
        if (typeof inode !== "string") {
          if (inode.code === "ELOOP")
            problems.set(`${dir}:ELOOP`, `${dir} is a symbolic link loop (ELOOP); not watched. Remove the link or point it at a directory`);
          continue;
        }
        if (inode === top) continue; // a link back to the SSL dir itself
        present.add(dir);
        if (room) room = add(dir, inode, () => onEvent(dir), problems);
      }
      for (const [dir, entry] of watched) {
        if (present.has(dir)) continue;
        entry.watcher.close();
        watched.delete(dir);
      }
    }
    for (const [key, message] of problems) if (!reported.has(key)) log.warn(message);
    reported = new Set(problems.keys());
  };

  return {
    sync,
    close() {
      for (const entry of watched.values()) entry.watcher.close();
      watched.clear();
      parentWatch?.close();
      parentWatch = undefined;
    },
    get count() {
      return watched.size;
    },
  };
}

/** The SSL dir's own pairs: an event for them concerns the default source. */
function isTopLevelFile(name: string): boolean {
  return name.endsWith(".pem") || name === "domains";
}

/** Names below `dir` that are directories or links (a link may lead to one); sorted for a stable order. */
function listDirectories(dir: string, problems: Map<string, string>): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory() || entry.isSymbolicLink())
      .map((entry) => entry.name)
      .sort();
  } catch (error) {
    const code = errnoText(error);
    problems.set(
      `${dir}:readdir:${code}`,
      `cannot list ${dir} (${code}); new certificate directories are not watched until it can be read`,
    );
    return [];
  }
}

/** dev:ino of a directory (links followed), or the error code when it is not one. */
function inodeOf(path: string): string | { code: string } {
  try {
    const stat = statSync(path);
    return stat.isDirectory() ? `${stat.dev}:${stat.ino}` : { code: "ENOTDIR" };
  } catch (error) {
    return { code: errnoText(error) };
  }
}

function tryWatch(dir: string, listener: () => void): FSWatcher | undefined {
  try {
    return watch(dir, { persistent: true }, listener);
  } catch {
    return undefined;
  }
}
