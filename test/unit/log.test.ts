import { expect, test } from "bun:test";
import { createLogger } from "../../src/log.ts";

test("batch: the lines one call per line would give, in a single write, secrets redacted", () => {
  const writes: string[] = [];
  const log = createLogger((text) => writes.push(text));
  log.addSecret("hunter22");
  log.warn("one");
  log.error("two hunter22");
  const oneByOne = writes.splice(0);
  log.batch([
    { level: "warning", message: "one" },
    { level: "error", message: "two hunter22" },
  ]);
  expect(writes).toEqual([oneByOne.join("")]);
  expect(writes[0]).toBe("mailcow-postfix-init: warning: one\nmailcow-postfix-init: error: two ***\n");
  log.batch([]);
  expect(writes).toHaveLength(1);
});
