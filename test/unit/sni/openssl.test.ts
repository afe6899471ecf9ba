import { expect, test } from "bun:test";
import { dlopen, ptr } from "bun:ffi";
import { copyBytes, errorReason, lastErrorReason, openSsl } from "../../../src/sni/openssl.ts";

// The small helpers around the system's OpenSSL (openssl.ts) that every verdict's wording goes
// through: the text of the error OpenSSL queued, and its reason code. Errors are queued here
// with OpenSSL's own ERR_new + ERR_set_error (what its ERR_raise macro does), in this thread's
// queue, which the helpers read.

const raising = dlopen("libcrypto.so.3", {
  ERR_new: { args: [], returns: "void" },
  ERR_set_error: { args: ["i32", "i32", "ptr"], returns: "void" },
}).symbols;

const ERR_LIB_SYS = 2;
const ERR_LIB_PEM = 9;
const ERR_LIB_USER = 128;
const PEM_R_NO_START_LINE = 108;
const ENOENT = 2;

function raise(library: number, reason: number): void {
  raising.ERR_new();
  raising.ERR_set_error(library, reason, null);
}

test("the last queued error is told by OpenSSL's own reason text, and the queue is left empty", () => {
  const openssl = openSsl();
  openssl.crypto.ERR_clear_error();
  expect(lastErrorReason(openssl)).toBeUndefined();
  raise(ERR_LIB_PEM, PEM_R_NO_START_LINE);
  expect(errorReason(openssl.crypto.ERR_peek_last_error())).toBe(PEM_R_NO_START_LINE);
  expect(lastErrorReason(openssl)).toBe("no start line");
  expect(openssl.crypto.ERR_peek_last_error()).toBe(0n);
});

test("a system error's reason is its errno", () => {
  const openssl = openSsl();
  raise(ERR_LIB_SYS, ENOENT);
  expect(errorReason(openssl.crypto.ERR_peek_last_error())).toBe(ENOENT);
  openssl.crypto.ERR_clear_error();
});

test("an error OpenSSL has no text for is still named, by its code", () => {
  const openssl = openSsl();
  raise(ERR_LIB_USER, 0x123);
  const code = openssl.crypto.ERR_peek_last_error();
  expect(code).not.toBe(0n);
  expect(lastErrorReason(openssl)).toBe(`error 0x${code.toString(16)}`);
});

test("a copy of no bytes is empty", () => {
  const bytes = new Uint8Array([1, 2, 3]);
  expect(copyBytes(ptr(bytes), 0)).toEqual(new Uint8Array(0));
  expect(copyBytes(ptr(bytes), 2)).toEqual(new Uint8Array([1, 2]));
});
