// Two kinds of failure, told apart at the top level (citty/consola habit):
// a UserError is the admin's input being wrong and prints as one line;
// anything else is a bug and prints in full with its cause chain.

/** Bad input from the admin (env, flags, files): one line, what/where/what to do. */
export class UserError extends Error {
  override name = "UserError";
  /** Several findings of one failure (one per bad variable): one log line each. */
  readonly lines?: readonly string[];
  constructor(
    message: string,
    readonly exitCode = 1,
    options?: { cause?: unknown; lines?: readonly string[] },
  ) {
    super(message, options);
    if (options?.lines) this.lines = options.lines;
  }
}

/** The errno code a failed system call carries ("ENOENT"), or undefined for any other error. */
export function errnoCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return typeof code === "string" ? code : undefined;
}

/** A failed file operation in one word for a message: its errno code, else the error's message. */
export function errnoText(error: unknown): string {
  return errnoCode(error) ?? (error instanceof Error ? error.message : String(error));
}

/** errno codes a user can cause with the paths and files they give us (not bugs). */
const USER_FS_ERRORS = new Set([
  "EACCES",
  "EPERM",
  "EROFS",
  "ENOTDIR",
  "EISDIR",
  "ENOENT",
  "ENOSPC",
  "EDQUOT",
  "ELOOP",
  "ENAMETOOLONG",
  "EEXIST",
  "EXDEV",
  "EBUSY",
  "EMFILE",
  "ENFILE",
  "EFBIG",
  "ENOTEMPTY",
  "EINVAL",
  "EIO",
]);

/** A filesystem error the admin caused (read-only conf dir, a file where a dir belongs) as one line, else undefined. */
export function describeFilesystemError(error: unknown): string | undefined {
  const code = errnoCode(error);
  if (code === undefined || !USER_FS_ERRORS.has(code)) return undefined;
  const failure = error as { path?: string; dest?: string };
  const where = failure.path ? ` (${failure.path}${failure.dest ? ` -> ${failure.dest}` : ""})` : "";
  return `filesystem error: ${code}${where}; check that the directories exist, are directories, are writable and have space`;
}

/** Wrong command line: one line, then a hint naming the help to read (`hint`, a command line); exit 2. */
export class UsageError extends UserError {
  override name = "UsageError";
  constructor(
    message: string,
    readonly hint: string,
  ) {
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
