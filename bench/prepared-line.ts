// `start`'s own account of where its time went, from the line it logs before the exec
// (src/phase-timer.ts): used by bench/start.ts and bench/container.ts.

/**
 * "prepared in 212 ms, 130 ms without the waits (start-up 45, environment 3, ...)" anywhere in
 * OUTPUT -> { total, "total without the waits", and each phase }; undefined when absent.
 */
export function preparedPhases(output: string): Record<string, number> | undefined {
  const line = output.split("\n").find((text) => text.includes("mailcow-postfix-init: prepared in "));
  const match = line?.match(/prepared in (\d+) ms, (\d+) ms without the waits \((.*)\)$/);
  if (!match) return undefined;
  const phases: Record<string, number> = { total: Number(match[1]), "total without the waits": Number(match[2]) };
  for (const part of match[3]!.split(", ")) {
    const at = part.lastIndexOf(" ");
    phases[part.slice(0, at)] = Number(part.slice(at + 1));
  }
  return phases;
}
