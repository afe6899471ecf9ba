import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { checkBaseImage } from "../../../src/steps/base-image.ts";
import { BASE_FILE_KINDS, fingerprintFile, type BaseFileKind } from "../../../src/templates/fingerprint.ts";
import { diffLines, KNOWN_BASES, verifyBase } from "../../../src/templates/verify.ts";
import { runCli } from "../../support/cli.ts";
import { FIXTURE_SCRIPT } from "../../support/namespace-root.ts";
import { makeTempDir } from "../../support/tmp.ts";
import { createLogger } from "../../../src/log.ts";

// No silent drift (issue 8): the stand-in base's startup files are known versions; a one-line
// logic change is not, and the message names the file and the line; MPI_ACCEPT_UNVERIFIED_BASE
// accepts exactly the named base, and start then warns.

const STAND_IN = join(import.meta.dir, "..", "..", "..", "docker", "test", "images", "postfix-base");
const texts: Record<BaseFileKind, string> = {
  "postfix.sh": readFileSync(FIXTURE_SCRIPT, "utf8"),
  "docker-entrypoint.sh": readFileSync(join(STAND_IN, "docker-entrypoint.sh"), "utf8"),
  "supervisord-program-postfix": readFileSync(join(STAND_IN, "supervisord.conf"), "utf8"),
};
const PATHS: Record<BaseFileKind, string> = {
  "postfix.sh": "/opt/postfix.sh",
  "docker-entrypoint.sh": "/docker-entrypoint.sh",
  "supervisord-program-postfix": "/etc/supervisor/supervisord.conf",
};
const base = (changes: Partial<Record<BaseFileKind, string>> = {}) =>
  Object.fromEntries(BASE_FILE_KINDS.map((kind) => [kind, { path: PATHS[kind], text: changes[kind] ?? texts[kind] }])) as Record<
    BaseFileKind,
    { path: string; text: string }
  >;

/** The fixture with one line replaced; returns the text and that line's number. */
function editLine(text: string, from: string, to: string): { text: string; line: number } {
  const lines = text.split("\n");
  const index = lines.indexOf(from);
  if (index === -1) throw new Error(`no line ${JSON.stringify(from)}`);
  lines[index] = to;
  return { text: lines.join("\n"), line: index + 1 };
}

const temp = makeTempDir("mpi-verify-");
afterAll(temp.cleanup);

describe("verifyBase", () => {
  test("the stand-in base (fixture postfix.sh, entrypoint, supervisord program) is known", () => {
    const verdict = verifyBase(base());
    expect(verdict.files.map((file) => [file.kind, file.drift])).toEqual(BASE_FILE_KINDS.map((kind) => [kind, ""]));
    expect(verdict.known).toBe(true);
  });

  test("heredoc bodies, comments, blank lines and indentation are not logic", () => {
    const fixture = texts["postfix.sh"]
      .replace(
        "query = SELECT name FROM fixture_domain WHERE name='%s' AND enabled=1",
        "query = SELECT name FROM fixture_domain WHERE name='%s'",
      )
      .replace("# Wait for the resolver\n", "# Wait for DNS\n\n")
      .replace('  echo "Resolver not ready yet, retrying"', '\techo "Resolver not ready yet, retrying"   ');
    const supervisord = texts["supervisord-program-postfix"].replace(
      "startsecs=10\nautorestart=true",
      "autorestart = true\n; comment\nstartsecs=10",
    );
    expect(verifyBase(base({ "postfix.sh": fixture, "supervisord-program-postfix": supervisord })).known).toBe(true);
  });

  test("a one-line logic edit of postfix.sh is unknown, named by file and line", () => {
    const edited = editLine(texts["postfix.sh"], "  sleep 1", "  sleep 2");
    const verdict = verifyBase(base({ "postfix.sh": edited.text }));
    expect(verdict.known).toBe(false);
    expect(verdict.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(verdict.files[0]!.drift).toBe(`line ${edited.line} (\`sleep 2\`) is new or changed: no known version has it there`);
  });

  test("a removed line is named by where it went missing; the entrypoint is checked too", () => {
    const removed = editLine(texts["postfix.sh"], "newaliases;", "");
    const entrypoint = editLine(texts["docker-entrypoint.sh"], 'exec "$@"', 'exec /usr/bin/env "$@"');
    const verdict = verifyBase(base({ "postfix.sh": removed.text, "docker-entrypoint.sh": entrypoint.text }));
    const next = removed.text.split("\n").indexOf(": > /opt/postfix/conf/sni.map") + 1;
    expect(verdict.files[0]!.drift).toBe(
      `a line the nearest known version has is missing before line ${next} (\`: > /opt/postfix/conf/sni.map\`)`,
    );
    expect(verdict.files[1]!.drift).toStartWith(`line ${entrypoint.line} (\`exec /usr/bin/env "$@"\`) is new or changed`);
  });

  test("supervisord: a changed or missing setting, or no [program:postfix] at all", () => {
    const program = texts["supervisord-program-postfix"];
    const changed = editLine(program, "startsecs=10", "startsecs=0");
    expect(verifyBase(base({ "supervisord-program-postfix": changed.text })).files[2]!.drift).toStartWith(
      `line ${changed.line} (\`startsecs=0\`) is new or changed`,
    );
    const header = program.split("\n").indexOf("[program:postfix]") + 1;
    const noCommand = program.replace("command=/opt/postfix.sh\n", "");
    expect(verifyBase(base({ "supervisord-program-postfix": noCommand })).files[2]!.drift).toBe(
      `the section (line ${header}) lacks a setting the nearest known version has`,
    );
    expect(verifyBase(base({ "supervisord-program-postfix": program.replace("[program:postfix]", "[program:mta]") })).files[2]!.drift).toBe(
      "no [program:postfix] section",
    );
  });

  test("the known list matches the stand-ins in this repository and holds hashes only", () => {
    for (const kind of BASE_FILE_KINDS) {
      const entry = KNOWN_BASES[kind].find((version) => version.sources.some((source) => source.includes("stand-in")));
      expect({ kind, fingerprint: entry?.fingerprint }).toEqual({ kind, fingerprint: fingerprintFile(kind, texts[kind]).fingerprint });
      for (const version of KNOWN_BASES[kind]) {
        expect(version.fingerprint).toMatch(/^[0-9a-f]{16}$/);
        expect(version.lines.every((hash) => /^[0-9a-f]{12}$/.test(hash))).toBe(true);
        expect(version.verified.length).toBeGreaterThan(0);
      }
    }
  });
});

describe("diffLines", () => {
  test("new lines by index, missing ones by where they were", () => {
    expect(diffLines(["a", "x", "b", "c"], ["a", "b", "c"])).toEqual({ added: [1], removedAt: [] });
    expect(diffLines(["a", "c"], ["a", "b", "c"])).toEqual({ added: [], removedAt: [1] });
    expect(diffLines(["a", "b"], ["a", "b", "c"])).toEqual({ added: [], removedAt: [2] });
  });
});

describe("templates verify (the image build step) and the warning at start", () => {
  const write = (name: string, text: string) => {
    const path = join(temp.path, name);
    writeFileSync(path, text);
    return path;
  };
  const entrypoint = write("docker-entrypoint.sh", texts["docker-entrypoint.sh"]);
  const supervisord = write("supervisord.conf", texts["supervisord-program-postfix"]);
  const record = join(temp.path, "unverified-base.json");
  const verify = (script: string, env: Record<string, string> = {}) =>
    runCli(["templates", "verify", "--from", script, "--entrypoint", entrypoint, "--supervisord", supervisord, "--record", record], env);

  test("a known base passes and records nothing", async () => {
    const result = await verify(FIXTURE_SCRIPT);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toStartWith("mailcow-postfix-init: templates: base verified");
    expect(result.stdout).toBe("");
    expect(existsSync(record)).toBe(false);
  });

  test("an edited postfix.sh fails with one message: file, line, what to do", async () => {
    const edited = editLine(texts["postfix.sh"], "  sleep 1", "  sleep 2");
    const script = write("postfix.sh", edited.text);
    const result = await verify(script);
    expect(result.exitCode).toBe(3);
    expect(result.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(result.stderr).toContain(`${script}: line ${edited.line} (\`sleep 2\`) is new or changed`);
    expect(result.stderr).toContain("Update mailcow-postfix-init (git pull) and build again");
    const fingerprint = verifyBase({ ...base({ "postfix.sh": edited.text }) }).fingerprint;
    expect(result.stderr).toContain(`set MPI_ACCEPT_UNVERIFIED_BASE=${fingerprint} `);
    expect(existsSync(record)).toBe(false);

    const wrong = await verify(script, { MPI_ACCEPT_UNVERIFIED_BASE: "0123456789abcdef" });
    expect(wrong.exitCode).toBe(3);
    expect(wrong.stderr).toContain("MPI_ACCEPT_UNVERIFIED_BASE=0123456789abcdef names another base");
  });

  // The update hook's interface (docs/known-bases.md), read with sed/awk: this exact line shape.
  test("an unknown base prints one verdict line on stdout: compact JSON, documented keys in order, reason last", async () => {
    const edited = editLine(texts["postfix.sh"], "  sleep 1", "  sleep 2");
    const script = write("postfix.sh", edited.text);
    const fingerprint = verifyBase(base({ "postfix.sh": edited.text })).fingerprint;
    const drift = `${script}: line ${edited.line} (\`sleep 2\`) is new or changed: no known version has it there`;
    const line = (reason: string) =>
      `mailcow-postfix-init-verdict {"schemaVersion":1,"verdict":"unknown-base","fingerprint":"${fingerprint}","files":["${script}"],"reason":"${reason}"}\n`;
    expect((await verify(script)).stdout).toBe(line(drift));
    const wrong = await verify(script, { MPI_ACCEPT_UNVERIFIED_BASE: "0123456789abcdef" });
    expect(wrong.stdout).toBe(line(`${drift}; MPI_ACCEPT_UNVERIFIED_BASE=0123456789abcdef names another base`));
    const quoted = editLine(texts["postfix.sh"], "  sleep 1", String.raw`  echo "a\b"`);
    const quotedLine = (await verify(write("postfix.sh", quoted.text))).stdout;
    expect(quotedLine).toContain(`"reason":"${script}: line ${quoted.line} (\`echo \\"a\\\\b\\"\`) is new or changed`);
    expect(quotedLine.split("\n")).toEqual([expect.stringMatching(/^mailcow-postfix-init-verdict \{.*\}$/), ""]);
  });

  test("MPI_ACCEPT_UNVERIFIED_BASE with the named fingerprint passes; start then warns on every run", async () => {
    const edited = editLine(texts["postfix.sh"], "  sleep 1", "  sleep 2");
    const script = write("postfix.sh", edited.text);
    const fingerprint = verifyBase(base({ "postfix.sh": edited.text })).fingerprint;
    const result = await verify(script, { MPI_ACCEPT_UNVERIFIED_BASE: fingerprint });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain(`warning: templates: building on an unverified base (fingerprint ${fingerprint})`);
    expect(JSON.parse(readFileSync(record, "utf8"))).toEqual({ fingerprint, files: [script] });

    for (let run = 0; run < 2; run++) {
      let logged = "";
      checkBaseImage(
        { builtFromFile: join(temp.path, "none"), composeFile: join(temp.path, "none"), unverifiedFile: record },
        createLogger((text) => (logged += text)),
      );
      expect(logged).toBe(
        `mailcow-postfix-init: warning: the startup logic was not verified for this base image (base fingerprint ${fingerprint}, accepted at build with MPI_ACCEPT_UNVERIFIED_BASE; versions this release does not know: ${script}): Postfix may start differently than with mailcow's own script; update mailcow-postfix-init and rebuild\n`,
      );
    }

    // Back on a known base, the same build step clears the record.
    expect((await verify(FIXTURE_SCRIPT)).exitCode).toBe(0);
    expect(existsSync(record)).toBe(false);
  });
});
