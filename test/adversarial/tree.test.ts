import { afterAll, describe, expect } from "bun:test";
import { mkdirSync, readFileSync, renameSync, statSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { MAX_DOMAINS_BYTES, MAX_PEM_BYTES } from "../../src/bounded-read.ts";
import {
  adversarial,
  HOSTNAME,
  PLANTED_FILE_TEXT,
  SECRETS,
  cleanUp,
  expectMapAgrees,
  expectRun,
  freshTree,
  remove,
  runBin,
  runEnv,
  sniArgs,
  tempDir,
  write,
} from "./harness.ts";

// Family 1, the certificate tree: special files, endless and oversized files, links to other
// files' secrets, names that forge log lines. Every hostile source is one error or warning
// line for that source, which falls back to the default certificate; the run finishes in
// bounded time and memory and nothing of the planted content is printed.

afterAll(cleanUp);

type Tree = ReturnType<typeof freshTree>;

function mkfifo(path: string): void {
  remove(path);
  expect(Bun.spawnSync(["mkfifo", path]).exitCode).toBe(0);
}

function link(target: string, path: string): void {
  remove(path);
  symlinkSync(target, path);
}

/** A file outside the SSL dir holding what must never be printed (a stand-in for /etc/shadow). */
function plantedFile(lines = 5): string {
  const path = join(tempDir("mpi-adv-shadow-"), "shadow");
  write(path, `${Array.from({ length: lines }, () => PLANTED_FILE_TEXT).join("\n")}\n`);
  return path;
}

interface TreeCase {
  name: string;
  /** Break the tree; returns extra planted strings that must not appear. */
  // biome-ignore lint/suspicious/noConfusingVoidType: most cases only break the tree and return nothing
  arrange(tree: Tree): string[] | void;
  /** Log lines of `sni-map` besides its summary line. */
  problemLines: number;
  /** Names that must still be in the map (default names always are). */
  mapped?: string[];
  /** Names that must not be in the map. */
  unmapped?: string[];
  /** What the first problem line must say. */
  says?: string;
}

const other = (tree: Tree, file: string) => join(tree.sslDir, "other", file);
const defaultFile = (tree: Tree, file: string) => join(tree.sslDir, file);

const cases: TreeCase[] = [
  {
    name: "domains is a FIFO",
    says: "a FIFO, not a regular file",
    arrange: (t) => mkfifo(other(t, "domains")),
    problemLines: 1,
    unmapped: ["other.example.test"],
  },
  {
    name: "cert.pem of a directory is a FIFO",
    says: "a FIFO, not a regular file",
    arrange: (t) => mkfifo(other(t, "cert.pem")),
    problemLines: 1,
    unmapped: ["other.example.test"],
  },
  {
    name: "key.pem of a directory is a FIFO",
    says: "a FIFO, not a regular file",
    arrange: (t) => mkfifo(other(t, "key.pem")),
    problemLines: 1,
    unmapped: ["other.example.test"],
  },
  {
    name: "the default cert.pem is a FIFO: directories are still mapped",
    says: "a FIFO, not a regular file",
    arrange: (t) => mkfifo(defaultFile(t, "cert.pem")),
    problemLines: 1,
    mapped: ["other.example.test"],
    unmapped: [HOSTNAME],
  },
  {
    name: "cert.pem -> /dev/zero",
    says: "a character device, not a regular file",
    arrange: (t) => link("/dev/zero", other(t, "cert.pem")),
    problemLines: 1,
    unmapped: ["other.example.test"],
  },
  {
    name: "key.pem -> /dev/zero",
    says: "a character device, not a regular file",
    arrange: (t) => link("/dev/zero", other(t, "key.pem")),
    problemLines: 1,
    unmapped: ["other.example.test"],
  },
  {
    name: "domains -> /dev/zero",
    says: "a character device, not a regular file",
    arrange: (t) => link("/dev/zero", other(t, "domains")),
    problemLines: 1,
    unmapped: ["other.example.test"],
  },
  {
    name: "cert.pem -> /dev/urandom",
    says: "a character device, not a regular file",
    arrange: (t) => link("/dev/urandom", other(t, "cert.pem")),
    problemLines: 1,
    unmapped: ["other.example.test"],
  },
  {
    name: "the default key.pem -> /dev/urandom",
    says: "a character device, not a regular file",
    arrange: (t) => link("/dev/urandom", defaultFile(t, "key.pem")),
    problemLines: 1,
    mapped: ["other.example.test"],
    unmapped: [HOSTNAME],
  },
  {
    name: "a valid certificate followed by junk beyond the cap",
    says: "larger than 1 MB",
    arrange: (t) => write(other(t, "cert.pem"), Buffer.concat([readFileSync(other(t, "cert.pem")), Buffer.alloc(MAX_PEM_BYTES, "A")])),
    problemLines: 1,
    unmapped: ["other.example.test"],
  },
  {
    name: "a domains file beyond the cap",
    says: "larger than 1 MB",
    arrange: (t) => write(other(t, "domains"), `${"x.example.test ".repeat(MAX_DOMAINS_BYTES / 15 + 10)}`),
    problemLines: 1,
    unmapped: ["other.example.test"],
  },
  {
    name: "domains is a directory",
    says: "a directory, not a regular file",
    arrange: (t) => {
      remove(other(t, "domains"));
      mkdirSync(other(t, "domains"));
    },
    problemLines: 1,
    unmapped: ["other.example.test"],
  },
  {
    name: "domains is a unix socket",
    says: "a socket, not a regular file",
    arrange: (t) => {
      remove(other(t, "domains"));
      const made = Bun.spawnSync([
        "python3",
        "-c",
        "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])",
        other(t, "domains"),
      ]);
      expect(made.exitCode).toBe(0);
    },
    problemLines: 1,
    unmapped: ["other.example.test"],
  },
  // A cert.pem that cannot be stat'ed (ELOOP) is one problem line; its names get the default certificate.
  {
    name: "cert.pem is a symlink loop",
    says: "ELOOP",
    arrange: (t) => {
      link("loop-b", other(t, "cert.pem"));
      link("cert.pem", other(t, "loop-b"));
    },
    problemLines: 1,
    unmapped: ["other.example.test"],
  },
  {
    name: "key.pem is a dangling symlink",
    arrange: (t) => link("/nonexistent/key.pem", other(t, "key.pem")),
    problemLines: 1,
    unmapped: ["other.example.test"],
  },
  {
    name: "domains -> a secret file outside the SSL dir: counted, not one byte quoted",
    says: "values not shown",
    arrange: (t) => link(plantedFile(), other(t, "domains")),
    problemLines: 1, // invalid names, counted only
    unmapped: ["other.example.test"],
  },
  {
    name: "domains -> /proc/self/environ: no secret printed",
    says: "values not shown",
    arrange: (t) => link("/proc/self/environ", other(t, "domains")),
    problemLines: 1,
    unmapped: ["other.example.test"],
  },
  {
    name: "domains inside the SSL dir holding every planted secret: each redacted",
    arrange: (t) =>
      write(
        other(t, "domains"),
        `other.example.test ${Object.values(SECRETS)
          .map((value) => `x${value}`)
          .join(" ")} ${JSON.stringify(SECRETS.DBPASS)}`,
      ),
    problemLines: 2, // the invalid ones (redacted), and the valid-looking ones the certificate does not cover
    mapped: ["other.example.test"],
  },
  {
    name: "domains with ESC, BEL and a newline-forged log line: escaped, one line",
    arrange: (t) => write(other(t, "domains"), "other.example.test \x1b[31mred\x07\u2028mailcow-postfix-init: error: forged\x85x"),
    problemLines: 1,
    mapped: ["other.example.test"],
  },
  {
    name: "100,000 invalid names: one warning quoting five, cut short",
    arrange: (t) => write(other(t, "domains"), `other.example.test ${"bad_name ".repeat(100_000)}`),
    problemLines: 1,
    mapped: ["other.example.test"],
  },
  {
    name: "a directory name with a newline and ESC: its error is one line",
    arrange: (t) => {
      renameSync(join(t.sslDir, "third"), join(t.sslDir, "th\nird\x1b"));
      mkfifo(join(t.sslDir, "th\nird\x1b", "cert.pem"));
    },
    problemLines: 1,
    unmapped: ["third.example.test"],
  },
  {
    name: "ecdsa pair beside the default pair is a FIFO: the RSA pair is served",
    arrange: (t) => {
      mkfifo(defaultFile(t, "ecdsa-cert.pem"));
      write(defaultFile(t, "ecdsa-key.pem"), "junk");
    },
    problemLines: 1,
    mapped: [HOSTNAME, "other.example.test"],
  },
];

describe("certificate tree: sni-map", () => {
  for (const testCase of cases) {
    adversarial(testCase.name, async () => {
      const tree = freshTree();
      const planted = testCase.arrange(tree) ?? [];
      const result = await runBin(sniArgs(tree));
      expectRun(result, { exitCode: 0, lines: testCase.problemLines + 1, planted, maxMs: 15_000 });
      expect(result.lines.at(-1)).toContain("sni-map: ");
      if (testCase.says) expect(result.lines[0]).toContain(testCase.says);
      const keys = expectMapAgrees(tree.confDir, testCase.mapped ?? [HOSTNAME]);
      for (const name of testCase.unmapped ?? []) expect(keys).not.toContain(name);
      // Bounded .db: nothing oversized was embedded.
      expect(statSync(join(tree.confDir, "sni.map.db")).size).toBeLessThan(2 * 1024 * 1024);
    });
  }
});

describe("certificate tree: check and --json", () => {
  adversarial("check --json with domains -> a secret file: no content, problem counted", async () => {
    const tree = freshTree();
    link(plantedFile(), other(tree, "domains"));
    const result = await runBin(["check", "--json", "--ssl-dir", tree.sslDir, "--hostname", HOSTNAME]);
    expectRun(result, { exitCode: 0, lines: 0 });
    const report = JSON.parse(result.stdout) as { problems: { code: string; message: string }[] };
    expect(report.problems.map((problem) => problem.code)).toEqual(["invalid-name"]);
    expect(report.problems[0]!.message).toContain("values not shown");
  });

  adversarial("check (text) with /proc/self/environ as domains and a FIFO cert: nothing leaks, exit 1", async () => {
    const tree = freshTree();
    link("/proc/self/environ", other(tree, "domains"));
    mkfifo(join(tree.sslDir, "third", "cert.pem"));
    const result = await runBin(["check", "--ssl-dir", tree.sslDir, "--hostname", HOSTNAME]);
    expectRun(result, { exitCode: 1, lines: 0 });
    expect(result.stdout).toContain("a FIFO, not a regular file");
  });

  adversarial("check with control characters in a directory name: every report line stays one line", async () => {
    const tree = freshTree();
    renameSync(join(tree.sslDir, "third"), join(tree.sslDir, "x\ny\x1b[2J"));
    const result = await runBin(["check", "--ssl-dir", tree.sslDir, "--hostname", HOSTNAME]);
    // A newline is whitespace, which a Postfix map value cannot hold: that source is an error.
    expectRun(result, { exitCode: 1, lines: 0 });
    expect(result.stdout.split("\n").filter((line) => line.includes("path-unusable") || line.includes("contains whitespace"))).toHaveLength(
      1,
    );
    // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
    expect(result.stdout).not.toMatch(/[\x00-\x09\x0b-\x1f]/);
    expect(result.stdout).toContain("x\\ny\\x1b[2J");
  });

  adversarial("check --json on a missing SSL dir: a JSON document and one error line, exit 1", async () => {
    const result = await runBin(["check", "--json", "--ssl-dir", join(tempDir(), "none"), "--hostname", HOSTNAME]);
    expectRun(result, { exitCode: 1, lines: 1 });
    expect((JSON.parse(result.stdout) as { ok: boolean }).ok).toBe(false);
  });

  adversarial("check --json with secrets in domains inside the SSL dir: redacted in JSON-escaped form too", async () => {
    const tree = freshTree();
    write(
      other(tree, "domains"),
      `other.example.test ${Object.values(SECRETS)
        .map((value) => `x${value}`)
        .join(" ")}`,
    );
    const result = await runBin(["check", "--json", "--ssl-dir", tree.sslDir, "--hostname", HOSTNAME], { env: runEnv() });
    expectRun(result, { exitCode: 0, lines: 0 });
    expect(result.stdout).toContain("***");
  });
});
