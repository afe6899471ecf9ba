import type { MapEntry } from "./types.ts";

// Pure: entries -> sni.map text. `NAME KEY CHAIN [KEY CHAIN]`, single spaces, LF; Postfix
// wants each key before the chain it belongs to (its SNI loader reads key, then chain).

export function renderSniMap(entries: readonly MapEntry[]): string {
  // The names of one source share one `files` array: join it once, not once per name.
  const joined = new Map<readonly string[], string>();
  let text = "";
  for (const entry of entries) {
    let files = joined.get(entry.files);
    if (files === undefined) {
      files = entry.files.join(" ");
      joined.set(entry.files, files);
    }
    text += `${entry.name} ${files}\n`;
  }
  return text;
}
