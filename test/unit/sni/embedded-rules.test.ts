import { afterAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../../../src/errors.ts";
import { EmbeddedValueChanged, embeddedBytes, embeddedValue, isEmbeddedValueChanged } from "../../../src/sni/embedded.ts";
import { makeTempDir } from "../../support/tmp.ts";

// What a build embeds for a value (embedded.ts): the bytes that were judged when validation
// read them, else the files' bytes only when they are the judged ones; and which failures mean
// "start over, reading every file".

const temp = makeTempDir("mpi-embedded-rules-");
afterAll(() => temp.cleanup());

test("bytes read and judged are the ones embedded, even when a file changed since", () => {
  const [key, cert] = [join(temp.path, "key.pem"), join(temp.path, "cert.pem")];
  writeFileSync(key, "key");
  writeFileSync(cert, "cert");
  const value = embeddedValue(Buffer.from("key\ncert"));
  writeFileSync(cert, "renewed");
  const entry = { name: "a.test", sourceDir: temp.path, files: [key, cert], value };
  expect(Buffer.from(embeddedBytes(entry)).toString()).toBe("key\ncert");
});

test("a change that must start the run over is known as such, also inside the error that wraps it", () => {
  const changed = new EmbeddedValueChanged("changed");
  expect(isEmbeddedValueChanged(changed)).toBe(true);
  expect(isEmbeddedValueChanged(new UserError("building failed", 1, { cause: changed }))).toBe(true);
  expect(isEmbeddedValueChanged(new UserError("building failed", 1, { cause: new Error("EROFS") }))).toBe(false);
  expect(isEmbeddedValueChanged(new Error("other"))).toBe(false);
  expect(isEmbeddedValueChanged("changed")).toBe(false);
  expect(changed.name).toBe("EmbeddedValueChanged");
});

test("a file gone since it was judged: the run starts over, and the warning names the file and why", () => {
  const [key, cert] = [join(temp.path, "gone-key.pem"), join(temp.path, "gone-cert.pem")];
  writeFileSync(key, "key");
  const entry = { name: "a.test", sourceDir: temp.path, files: [key, cert], value: embeddedValue(Buffer.from("key\n")) };
  let thrown: unknown;
  try {
    embeddedBytes({ ...entry, value: { digest: entry.value.digest, length: entry.value.length } });
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(EmbeddedValueChanged);
  expect((thrown as Error).message).toBe(`${temp.path}: ${cert} changed since it was judged; reading every file again`);
  expect(((thrown as Error).cause as NodeJS.ErrnoException).code).toBe("ENOENT");
});
