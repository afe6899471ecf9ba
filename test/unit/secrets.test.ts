import { describe, expect, test } from "bun:test";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BoundedReadError, readBoundedText, readBoundedTextIfExists } from "../../src/bounded-read.ts";
import { createMemoryLogger, formatLogLine } from "../../src/log.ts";
import { createRedactor, escapeControl, isSecretVariable, printedForms, withoutSecrets } from "../../src/secrets.ts";
import { masterInvocation } from "../../src/steps/exec-master.ts";
import { makeTempDir } from "../support/tmp.ts";

// Pure parts of issue 9's defences; test/adversarial/ tries them against the real binary.

describe("secrets", () => {
  test("mailcow's secret variables and the admin's own are secrets; ordinary ones are not", () => {
    for (const name of ["DBPASS", "DBROOT", "REDISPASS", "SPAMHAUS_DQS_KEY", "MY_API_TOKEN", "S3_SECRET", "KEY", "SSH_PRIVATE"])
      expect(isSecretVariable(name)).toBe(true);
    for (const name of ["PATH", "MAILCOW_HOSTNAME", "DBNAME", "DBUSER", "TZ", "KEYBOARD", "MONKEY"])
      expect(isSecretVariable(name)).toBe(false);
  });

  test("children and master get no secret variable", () => {
    const env = { PATH: "/bin", DBPASS: "a", REDISPASS: "b", SPAMHAUS_DQS_KEY: "c", MY_TOKEN: "d", TZ: "UTC", UNSET: undefined };
    expect(withoutSecrets(env)).toEqual({ PATH: "/bin", TZ: "UTC" });
    expect(masterInvocation("/usr/lib/postfix/sbin/master", "/conf", env).env).toEqual({ PATH: "/bin", TZ: "UTC" });
  });

  test("every printed form is redacted: raw, JSON-escaped once and twice, control-escaped", () => {
    const secret = 'pa"ss\\w\x1bord';
    const redactor = createRedactor();
    redactor.add(secret);
    for (const form of printedForms(secret)) expect(redactor.redact(`<${form}>`)).toBe("<***>");
    expect(printedForms(secret)).toContain(JSON.stringify(JSON.stringify(secret).slice(1, -1)).slice(1, -1));
    // Short values would mangle every line and hide nothing.
    redactor.add("abc");
    expect(redactor.redact("abc")).toBe("abc");
  });

  test("one message is one log line, control characters escaped, secret redacted before and after", () => {
    expect(formatLogLine("error", "a\nb\x1b[2J\u2028c\x85")).toBe("mailcow-postfix-init: error: a\\nb\\x1b[2J\\u2028c\\x85\n");
    const log = createMemoryLogger();
    log.addSecret("se\ncret");
    log.warn("value se\ncret here");
    expect(log.lines).toEqual(["mailcow-postfix-init: warning: value *** here"]);
    expect(escapeControl("plain text")).toBe("plain text");
  });
});

describe("bounded reads", () => {
  const temp = makeTempDir("mpi-bounded-");
  test("regular files up to the cap; over it EFBIG; special files ENOTREG without blocking", () => {
    const file = join(temp.path, "f");
    writeFileSync(file, "x".repeat(100));
    expect(readBoundedText(file, 100)).toHaveLength(100);
    expect(() => readBoundedText(file, 99)).toThrow("larger than 99 bytes");
    const fifo = join(temp.path, "fifo");
    expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
    expect(() => readBoundedText(fifo, 100)).toThrow("a FIFO, not a regular file");
    expect(() => readBoundedText("/dev/zero", 100)).toThrow("a character device, not a regular file");
    mkdirSync(join(temp.path, "dir"));
    expect(() => readBoundedText(join(temp.path, "dir"), 100)).toThrow("a directory, not a regular file");
    expect(readBoundedTextIfExists(join(temp.path, "missing"), 100)).toBeUndefined();
    symlinkSync("/nonexistent", join(temp.path, "dangling"));
    expect(readBoundedTextIfExists(join(temp.path, "dangling"), 100)).toBeUndefined();
  });

  test("a file whose size says 0 (/proc) is read to its end, but never past the cap", () => {
    expect(readBoundedText("/proc/self/status", 1 << 20)).toContain("Name:");
    const error = (() => {
      try {
        readBoundedText("/proc/self/status", 10);
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(BoundedReadError);
    expect((error as BoundedReadError).code).toBe("EFBIG");
    temp.cleanup();
  });
});
