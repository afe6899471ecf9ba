// Two kinds of failure, told apart at the top level (citty/consola habit):
// a UserError is the admin's input being wrong and prints as one line;
// anything else is a bug and prints in full with its cause chain.

/** Bad input from the admin (env, flags, files): one line, what/where/what to do. */
export class UserError extends Error {
  override name = "UserError";
  constructor(
    message: string,
    readonly exitCode = 1,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Wrong command line: printed with the usage text, exit 2. */
export class UsageError extends UserError {
  override name = "UsageError";
  constructor(message: string, readonly usage: string) {
    super(message, 2);
  }
}

/** Every `cause` in an error chain, outermost first, for bug reports. */
export function describeErrorChain(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 8; depth++) {
    if (current instanceof Error) {
      parts.push(depth === 0 ? (current.stack ?? current.message) : `caused by: ${current.stack ?? current.message}`);
      current = current.cause;
    } else {
      parts.push(`${depth === 0 ? "" : "caused by: "}${String(current)}`);
      break;
    }
  }
  return parts.join("\n");
}
