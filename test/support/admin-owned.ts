import { chmodSync, chownSync, lstatSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";

// mailcow's conf dir is a bind mount of data/conf/postfix from the host, often a git checkout
// owned by the admin's uid with group-writable files. What a startup may change there is
// compared through a full stat listing.

export const ADMIN = { uid: 1000, gid: 1000 };

/** Give `dir` and everything in it to the admin: dirs 775, files 664. */
export function handToAdmin(dir: string): void {
  const visit = (path: string) => {
    const stat = lstatSync(path);
    chownSync(path, ADMIN.uid, ADMIN.gid);
    chmodSync(path, stat.isDirectory() ? 0o775 : 0o664);
    if (stat.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name));
  };
  visit(dir);
}

/** Every path under `dir` ("." for itself) -> "TYPE MODE UID:GID", symlinks not followed. */
export function statListing(dir: string, skip: (path: string) => boolean = () => false): Record<string, string> {
  const listing: Record<string, string> = {};
  const visit = (path: string) => {
    const name = relative(dir, path) || ".";
    if (skip(name)) return;
    const stat = lstatSync(path);
    const type = stat.isDirectory() ? "d" : stat.isSymbolicLink() ? "l" : stat.isSocket() ? "s" : stat.isFIFO() ? "p" : "f";
    listing[name] = `${type} ${(stat.mode & 0o7777).toString(8).padStart(4, "0")} ${stat.uid}:${stat.gid}`;
    if (stat.isDirectory()) for (const entry of readdirSync(path).sort()) visit(join(path, entry));
  };
  visit(dir);
  return listing;
}
