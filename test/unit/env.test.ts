import { describe, expect, test } from "bun:test";
import { isFqdn, parseEntrypointEnv, parseStartEnv } from "../../src/env.ts";
import { UserError } from "../../src/errors.ts";

const good = { DBNAME: "mailcow", DBUSER: "mailcow", DBPASS: 's3cr#t "x"', MAILCOW_HOSTNAME: "mail.example.org" };

function failure(env: Record<string, string | undefined>): string {
  try {
    parseStartEnv(env);
  } catch (error) {
    expect(error).toBeInstanceOf(UserError);
    return (error as Error).message;
  }
  throw new Error("expected a UserError");
}

describe("parseStartEnv", () => {
  test("accepts mailcow's variables and ignores the rest", () => {
    const env = parseStartEnv({ ...good, SPAMHAUS_DQS_KEY: "", TZ: "Europe/Berlin", REDIS_SLAVEOF_IP: "" });
    expect(env).toEqual({
      dbName: "mailcow",
      dbUser: "mailcow",
      dbPass: good.DBPASS,
      hostname: "mail.example.org",
      spamhausDqsKey: undefined,
      redisSlaveofIp: undefined,
      skipLetsEncrypt: false,
    });
    expect(Object.isFrozen(env)).toBe(true);
  });

  test("one line per missing variable, naming it and the rule", () => {
    expect(failure({}).split("\n")).toEqual([
      "environment variable DBNAME: required, must be set",
      "environment variable DBUSER: required, must be set",
      "environment variable DBPASS: required, must be set",
      "environment variable MAILCOW_HOSTNAME: required, must be set",
    ]);
    expect(failure({ ...good, DBPASS: "" })).toBe("environment variable DBPASS: required, must not be empty");
  });

  test("an invalid hostname", () => {
    for (const hostname of [
      "mail",
      "mail.example.org.",
      "-mail.example.org",
      "mail..example.org",
      "mail_x.example.org",
      "mail example.org",
      `${"a".repeat(64)}.org`,
    ]) {
      expect(failure({ ...good, MAILCOW_HOSTNAME: hostname })).toStartWith(
        "environment variable MAILCOW_HOSTNAME: must be a fully qualified domain name",
      );
    }
  });

  test("line breaks would inject config lines: refused without echoing the value", () => {
    const message = failure({ ...good, DBPASS: "secret\nhosts = evil" });
    expect(message).toBe("environment variable DBPASS: database password: must not contain line breaks or control characters");
    expect(message).not.toContain("secret");
  });

  test("leading or trailing spaces would be trimmed by Postfix: refused", () => {
    expect(failure({ ...good, DBPASS: "secret " })).toBe(
      "environment variable DBPASS: database password: must not start or end with a space (Postfix's SQL map files would drop it)",
    );
    expect(parseStartEnv({ ...good, DBPASS: "in ner" }).dbPass).toBe("in ner");
  });

  test("optional variables are checked when set", () => {
    expect(failure({ ...good, SPAMHAUS_DQS_KEY: "abc.def" })).toContain("SPAMHAUS_DQS_KEY: must be letters and digits only");
    // SKIP_LETS_ENCRYPT changes nothing any more: any value is accepted, y/yes only noted.
    expect(parseStartEnv({ ...good, SKIP_LETS_ENCRYPT: "maybe" }).skipLetsEncrypt).toBe(false);
    expect(parseStartEnv({ ...good, SKIP_LETS_ENCRYPT: "Yes" }).skipLetsEncrypt).toBe(true);
    expect(parseStartEnv({ ...good, SKIP_LETS_ENCRYPT: "y" }).skipLetsEncrypt).toBe(true);
    expect(parseStartEnv(good).skipLetsEncrypt).toBe(false);
    expect(parseStartEnv({ ...good, SPAMHAUS_DQS_KEY: "abc123" }).spamhausDqsKey).toBe("abc123");
  });

  test("isFqdn", () => {
    expect(isFqdn("mail.example.org")).toBe(true);
    expect(isFqdn("xn--bcher-kva.example")).toBe(true);
    expect(isFqdn(`${"a.".repeat(127)}ab`)).toBe(false);
  });

  test("the entrypoint needs no database variables", () => {
    expect(parseEntrypointEnv({})).toEqual({ redisSlaveofIp: undefined });
    expect(parseEntrypointEnv({ REDIS_SLAVEOF_IP: "10.0.0.5" })).toEqual({ redisSlaveofIp: "10.0.0.5" });
    expect(() => parseEntrypointEnv({ REDIS_SLAVEOF_IP: "10.0.0.5; rm" })).toThrow("REDIS_SLAVEOF_IP");
  });
});
