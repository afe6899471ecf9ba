import { afterAll, describe, expect, test } from "bun:test";
import { chownSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync, chmodSync } from "node:fs";
import { join, resolve } from "node:path";
import { POSTMAP_LOSING_ITS_FILES, toolsWithPostmapShim, writeMapText } from "../../support/map-text.ts";
import { UserError } from "../../../src/errors.ts";
import { makeCertificate } from "../../support/certs.ts";
import { mailTrees } from "../../support/fixture.ts";
import { builtBinary, cleanupBuiltBinary } from "../../support/binary.ts";

// Real postmap -F; the binary as a subprocess where a test needs another user or a kill.

const mailTree = mailTrees("mpi-write-");
const REPO = resolve(import.meta.dir, "../../..");

function confWithCert() {
  const { root, confDir, defaultCert } = mailTree({ defaultNames: ["mail.example.test"] });
  return { root, confDir, made: defaultCert! };
}

function postmapQuery(confDir: string, name: string): string {
  const result = Bun.spawnSync(["postmap", "-c", confDir, "-q", name, `hash:${confDir}/sni.map`]);
  return result.stdout.toString().trim();
}

const mode = (path: string) => statSync(path).mode & 0o777;

describe("writeSniMapFiles", () => {
  test("writes sni.map and sni.map.db 0600 with the files embedded", async () => {
    const { confDir, made } = confWithCert();
    await writeMapText(confDir, `mail.example.test ${made.keyFile} ${made.certFile}\n`);
    expect(mode(join(confDir, "sni.map"))).toBe(0o600);
    expect(mode(join(confDir, "sni.map.db"))).toBe(0o600);
    const embedded = Buffer.from(postmapQuery(confDir, "mail.example.test"), "base64").toString();
    expect(embedded).toBe(`${readFileSync(made.keyFile, "utf8")}\n${readFileSync(made.certFile, "utf8")}`);
    expect(readdirSync(confDir).sort()).toEqual(["main.cf", "sni.map", "sni.map.db"]);
  });

  test("a postmap warning fails the write and leaves the previous pair untouched", async () => {
    const { confDir, made } = confWithCert();
    await writeMapText(confDir, `mail.example.test ${made.keyFile} ${made.certFile}\n`);
    const before = { map: readFileSync(join(confDir, "sni.map")), db: readFileSync(join(confDir, "sni.map.db")) };
    const shim = toolsWithPostmapShim(join(confDir, ".."), POSTMAP_LOSING_ITS_FILES);
    const attempt = writeMapText(confDir, `gone.example.test ${made.keyFile} ${made.certFile}\n`, undefined, shim);
    await expect(attempt).rejects.toThrow(UserError);
    await attempt.catch((error: Error) => {
      expect(error.message).toContain("postmap: warning");
      expect(error.message).toContain("No such file or directory");
      expect(error.message).toContain("left unchanged");
    });
    expect(readFileSync(join(confDir, "sni.map"))).toEqual(before.map);
    expect(readFileSync(join(confDir, "sni.map.db"))).toEqual(before.db);
    expect(readdirSync(confDir).sort()).toEqual(["main.cf", "sni.map", "sni.map.db"]);
  });
});

describe("sni-map as a process", () => {
  const bun = process.execPath;
  afterAll(cleanupBuiltBinary);
  const asNobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "env", "HOME=/nonexistent"];

  test("unwritable conf dir: one error line, exit 1; a read-only SSL dir is fine", () => {
    const { root, confDir, made } = confWithCert();
    chmodSync(join(root, "ssl"), 0o555);
    for (const file of [made.keyFile, made.certFile]) chmodSync(file, 0o444);
    // The compiled binary, in a temp dir nobody can reach (the clone may sit in a 0700 home).
    const denied = Bun.spawnSync(
      [...asNobody, builtBinary(), "sni-map", "--ssl-dir", join(root, "ssl"), "--conf-dir", confDir, "--hostname", "mail.example.test"],
      { cwd: root },
    );
    expect(denied.exitCode).toBe(1);
    const lines = denied.stderr.toString().trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`cannot create files in ${confDir}: EACCES`);
    chownSync(confDir, 65534, 65534);
    const allowed = Bun.spawnSync(
      [...asNobody, builtBinary(), "sni-map", "--ssl-dir", join(root, "ssl"), "--conf-dir", confDir, "--hostname", "mail.example.test"],
      { cwd: root },
    );
    expect(allowed.stderr.toString()).toContain("1 name mapped (1 from the default certificate, 0 from 0 directories)");
    expect(allowed.exitCode).toBe(0);
  });

  test("missing postmap: one clear error, exit 1, nothing written", () => {
    const { root, confDir } = confWithCert();
    const result = Bun.spawnSync(
      [bun, "src/main.ts", "sni-map", "--ssl-dir", join(root, "ssl"), "--conf-dir", confDir, "--hostname", "mail.example.test"],
      {
        cwd: REPO,
        env: { PATH: "/nonexistent" },
      },
    );
    expect(result.exitCode).toBe(1);
    expect(result.stderr.toString()).toContain("postmap not found");
    // A failed run leaves nothing (the lock is a flock on the directory itself, conf-lock.ts).
    expect(readdirSync(confDir).sort()).toEqual(["main.cf"]);
  });

  test("a run killed during postmap leaves the previous map working", async () => {
    const { root, confDir, made } = confWithCert();
    const args = [bun, "src/main.ts", "sni-map", "--ssl-dir", join(root, "ssl"), "--conf-dir", confDir, "--hostname", "mail.example.test"];
    expect(Bun.spawnSync(args, { cwd: REPO }).exitCode).toBe(0);
    const before = readFileSync(join(confDir, "sni.map.db"));
    makeCertificate(join(root, "ssl"), { names: ["mail.example.test", "new.example.test"] });

    const fakeBin = join(root, "fake-bin");
    mkdirSync(fakeBin);
    // Every postmap started (the early build on the old map and the ordinary one) adds its PID.
    writeFileSync(join(fakeBin, "postmap"), `#!/bin/sh\necho $$ >> ${root}/postmap.pid\nexec sleep 30\n`, { mode: 0o755 });
    const run = Bun.spawn(args, { cwd: REPO, env: { ...process.env, PATH: `${fakeBin}:${process.env.PATH}` }, stderr: "pipe" });
    const deadline = Date.now() + 10_000;
    while (!existsSync(join(root, "postmap.pid")) && Date.now() < deadline) await Bun.sleep(20);
    run.kill("SIGKILL");
    await run.exited;
    for (const pid of readFileSync(join(root, "postmap.pid"), "utf8").split("\n").filter(Boolean)) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {
        // already gone: the run cancelled its early build itself
      }
    }

    expect(readFileSync(join(confDir, "sni.map.db"))).toEqual(before);
    const served = Buffer.from(postmapQuery(confDir, "mail.example.test"), "base64").toString();
    expect(served).toContain(readFileSync(made.keyFile, "utf8").slice(0, 40));
    expect(postmapQuery(confDir, "new.example.test")).toBe("");
    // The next run replaces the map; the half-written temp file is not sni.map.
    expect(Bun.spawnSync(args, { cwd: REPO }).exitCode).toBe(0);
    expect(postmapQuery(confDir, "new.example.test")).not.toBe("");
  });
});
