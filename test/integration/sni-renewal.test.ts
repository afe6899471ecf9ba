import { expect, test } from "bun:test";
import { readFileSync, renameSync, utimesSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { planSniMapFromTree } from "../../src/sni/index.ts";
import { makeCertificate, makeCertificateDirectory, type MadeCertificate } from "../support/certs.ts";
import { mailTrees, testEnv } from "../support/fixture.ts";

// docs/map-rules.md, "Renewals during a build": a renewal being written while the map is built
// ends with the NEW pair mapped (not only "nothing mixed"). The writer is another process, so it
// really runs while the engine waits or reads.

const mailTree = mailTrees("mpi-renewal-");
const HOSTNAME = "mail.example.test";
const NAME = "renewed.example.test";
const REPO = resolve(import.meta.dir, "../..");

/** A tree whose certificate directory holds an old pair (dated a minute back), and the new pair staged outside it. */
function renewalTree() {
  const tree = mailTree({ defaultNames: [HOSTNAME] });
  const current = makeCertificateDirectory(tree.sslDir, NAME, [NAME]);
  const past = new Date(Date.now() - 60_000);
  for (const file of [current.keyFile, current.certFile, join(current.dir, "domains")]) utimesSync(file, past, past);
  const next = makeCertificate(join(tree.root, "staged"), { names: [NAME] });
  return { ...tree, current, next };
}
const pairValue = (made: MadeCertificate) => `${readFileSync(made.keyFile, "utf8")}\n${readFileSync(made.certFile, "utf8")}`;

/** Lines of a child's stream, as they come. */
function lineReader(stream: ReadableStream<Uint8Array>) {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  return async function nextLine(): Promise<string | undefined> {
    for (;;) {
      const newline = buffered.indexOf("\n");
      if (newline >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        return line;
      }
      const { value, done } = await reader.read();
      if (done) return undefined;
      buffered += decoder.decode(value);
    }
  };
}

test("cert.pem written, key.pem 20 ms later, the map built in between: the new pair is mapped once both have settled", async () => {
  // Without a settle time, or with the age taken from the older file (the key, untouched for a
  // minute), the build reads the new certificate with the old key and leaves the name out.
  const GAP_MS = 20;
  const LATE_MS = 40; // a writer later than this (a loaded machine) makes the trial inconclusive
  for (let trial = 1; ; trial++) {
    const { sslDir, current, next } = renewalTree();
    planSniMapFromTree({ sslDir, hostname: HOSTNAME }); // warm: OpenSSL loaded, the tree in the page cache
    const writer = Bun.spawn(
      [process.execPath, join(import.meta.dir, "../support/late-key-writer.ts"), next.keyFile, current.keyFile, String(GAP_MS)],
      { stdout: "pipe", stderr: "inherit" },
    );
    const nextLine = lineReader(writer.stdout);
    expect(await nextLine()).toBe("ready");
    writeFileSync(current.certFile, readFileSync(next.certFile));
    const certWritten = Date.now();
    process.kill(writer.pid, "SIGUSR1");
    const result = planSniMapFromTree({ sslDir, hostname: HOSTNAME });
    const keyWritten = Number(await nextLine());
    await writer.exited;
    if (keyWritten - certWritten > LATE_MS && trial < 5) continue;
    const entry = result.entries.find((candidate) => candidate.name === NAME);
    expect(entry && Buffer.from(entry.value.bytes!).toString()).toBe(pairValue(next));
    expect(result.problems.filter((problem) => problem.severity === "error")).toEqual([]);
    return;
  }
});

test("a renewal landing between the read of cert.pem and of key.pem: read again, the new pair is mapped", async () => {
  // strace holds the build's open of key.pem for 2 s (a slow disk, a busy machine); the renewal
  // replaces both files in that window. The first read is mixed: old certificate, new key.
  const { sslDir, confDir, current, next } = renewalTree();
  const trace = Bun.spawn(
    [
      "strace",
      "-f",
      "-qq",
      "-P",
      current.certFile,
      "-P",
      current.keyFile,
      "-e",
      "trace=openat",
      "-e",
      "inject=openat:delay_enter=2000000:when=2",
      process.execPath,
      join(REPO, "src/main.ts"),
      "sni-map",
      "--ssl-dir",
      sslDir,
      "--conf-dir",
      confDir,
      "--hostname",
      HOSTNAME,
    ],
    { stdout: "pipe", stderr: "pipe", env: testEnv() },
  );
  const nextLine = lineReader(trace.stderr);
  const log: string[] = [];
  for (let line = await nextLine(); line !== undefined; line = await nextLine()) {
    log.push(line);
    if (line.includes(`openat(AT_FDCWD, "${current.certFile}"`) && log.filter((seen) => seen.includes("openat(")).length === 1) {
      for (const [from, to] of [
        [next.certFile, current.certFile],
        [next.keyFile, current.keyFile],
      ] as const) {
        writeFileSync(`${to}.new`, readFileSync(from));
        renameSync(`${to}.new`, to);
      }
    }
  }
  expect(await trace.exited).toBe(0);
  expect(log.filter((line) => line.includes("(DELAYED)"))).toHaveLength(1);
  expect(log.filter((line) => line.includes("changed while being read"))).toHaveLength(1);
  const query = Bun.spawnSync(["postmap", "-c", confDir, "-q", NAME, `hash:${confDir}/sni.map`], { stdout: "pipe", stderr: "pipe" });
  expect(Buffer.from(query.stdout.toString().trim(), "base64").toString()).toBe(pairValue(next));
}, 30_000);
