import { MAX_PEM_BYTES, readBoundedBytes } from "../bounded-read.ts";
import { UserError } from "../errors.ts";
import type { EmbeddedValue, MapEntry } from "./types.ts";

// A value the table embeds is known by its digest. validate.ts reads the bytes of a source
// whose files changed; a source whose files kept their identities is not read, and a build
// that embeds its value (a full build, or an entry whose value moved to other names) reads
// the files here, joined as postmap -F joins them, and embeds them only when they have the
// digest of the bytes that were judged. They cannot differ unless the identities lied; if they
// do, the run starts over, reading every file (index.ts).

/** Thrown when a file no longer holds the bytes its identity vouched for. */
export class EmbeddedValueChanged extends UserError {
  override name = "EmbeddedValueChanged";
}

/** The digest and length of BYTES, with the bytes. */
export function embeddedValue(bytes: Uint8Array): EmbeddedValue {
  return { digest: valueDigest(bytes), length: bytes.length, bytes };
}

function valueDigest(bytes: Uint8Array): string {
  return `sha256:${new Bun.CryptoHasher("sha256").update(bytes).digest("hex")}`;
}

/**
 * The bytes of ENTRY's value: as read by validate.ts, else read now from the files its map line
 * names (key, chain[, key, chain], joined by "\n") and kept on the value for the entry's other
 * names. Throws EmbeddedValueChanged when they do not have the judged digest.
 */
export function embeddedBytes(entry: MapEntry): Uint8Array {
  const value = entry.value;
  if (value.bytes !== undefined) return value.bytes;
  const pieces: Buffer[] = [];
  for (const file of entry.files) {
    if (pieces.length > 0) pieces.push(Buffer.from("\n"));
    try {
      pieces.push(readBoundedBytes(file, MAX_PEM_BYTES));
    } catch (error) {
      // Gone or replaced by something unreadable since its identity was taken: read it all again.
      throw new EmbeddedValueChanged(`${entry.sourceDir}: ${file} changed since it was judged; reading every file again`, 1, {
        cause: error,
      });
    }
  }
  const bytes = Buffer.concat(pieces);
  if (valueDigest(bytes) !== value.digest)
    throw new EmbeddedValueChanged(
      `${entry.sourceDir}: a certificate or key file changed without a new file identity; reading every file again`,
    );
  value.bytes = bytes;
  return bytes;
}

/** Whether ERROR, or an error it wraps (`cause`), is EmbeddedValueChanged. */
export function isEmbeddedValueChanged(error: unknown): boolean {
  for (let current = error; current instanceof Error; current = current.cause) if (current instanceof EmbeddedValueChanged) return true;
  return false;
}
