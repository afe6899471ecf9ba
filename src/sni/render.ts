import type { MapEntry } from "./types.ts";

// Pure: entries -> sni.map text. `NAME KEY CHAIN [KEY CHAIN]`, single spaces, LF; Postfix
// wants each key before the chain it belongs to (FACTS.md).

export function renderSniMap(entries: readonly MapEntry[]): string {
  return entries.map((entry) => `${entry.name} ${entry.files.join(" ")}\n`).join("");
}
