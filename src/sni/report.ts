import type { SniMapResult } from "./index.ts";
import type { PairReport } from "./types.ts";
import { escapeControl } from "../secrets.ts";

// Pure: what `check` prints. The JSON shape is a documented contract (README, "check --json").

export const CHECK_SCHEMA_VERSION = 1;

export interface CheckReport {
  schemaVersion: number;
  sslDir: string;
  hostname: string | null;
  ok: boolean;
  errors: number;
  warnings: number;
  sources: {
    dir: string;
    kind: "default" | "directory";
    mapped: boolean;
    domainsFile: string | null;
    pairs: {
      role: "main" | "ecdsa";
      keyFile: string;
      certFile: string;
      names: string[];
      notAfter: string | null;
      keyType: string | null;
      keyMatches: boolean;
      valid: boolean;
      error: string | null;
    }[];
  }[];
  entries: { name: string; source: string; files: string[] }[];
  problems: { severity: "error" | "warning"; code: string; source: string; message: string }[];
  /** Information, not problems (a dot-directory holding a cert.pem). */
  notes: string[];
}

export function buildCheckReport(result: SniMapResult): CheckReport {
  const mapped = new Set(result.entries.map((entry) => entry.sourceDir));
  const errors = result.problems.filter((problem) => problem.severity === "error").length;
  const pair = (role: "main" | "ecdsa", report: PairReport) => ({
    role,
    keyFile: report.files.keyFile,
    certFile: report.files.certFile,
    names: report.certificateNames,
    notAfter: report.notAfter ?? null,
    keyType: report.keyType ?? null,
    keyMatches: report.keyMatches,
    valid: report.valid,
    error: report.failure?.reason ?? null,
  });
  return {
    schemaVersion: CHECK_SCHEMA_VERSION,
    sslDir: result.sslDir,
    hostname: result.hostname ?? null,
    ok: errors === 0,
    errors,
    warnings: result.problems.length - errors,
    sources: result.sources.map((validated) => ({
      dir: validated.source.dir,
      kind: validated.source.kind,
      mapped: mapped.has(validated.source.dir),
      domainsFile: validated.source.domainsFile ?? null,
      pairs: [pair("main", validated.main), ...(validated.ecdsa ? [pair("ecdsa", validated.ecdsa)] : [])],
    })),
    entries: result.entries.map((entry) => ({ name: entry.name, source: entry.sourceDir, files: entry.files })),
    problems: result.problems.map((problem) => ({ ...problem })),
    notes: [...result.notes],
  };
}

/** The report when the tree could not be read at all (e.g. an unreadable SSL dir): one error, nothing else. */
export function failedCheckReport(sslDir: string, hostname: string | undefined, message: string): CheckReport {
  return {
    schemaVersion: CHECK_SCHEMA_VERSION,
    sslDir,
    hostname: hostname ?? null,
    ok: false,
    errors: 1,
    warnings: 0,
    sources: [],
    entries: [],
    problems: [{ severity: "error", code: "ssl-dir-unreadable", source: sslDir, message }],
    notes: [],
  };
}

export function renderCheckText(report: CheckReport): string {
  const lines: string[] = [`Certificate sources in ${report.sslDir} (hostname: ${report.hostname ?? "not set"})`];
  for (const source of report.sources) {
    lines.push(`  ${source.dir} [${source.kind}${source.mapped ? "" : ", NOT MAPPED"}]`);
    for (const pair of source.pairs) {
      const status = pair.valid ? "key matches" : `unusable: ${pair.error}`;
      lines.push(`    ${pair.role}: ${pair.certFile} + ${pair.keyFile}: ${status}`);
      lines.push(`      names: ${pair.names.join(" ") || "(none)"}; not after: ${pair.notAfter ?? "unknown"}`);
    }
  }
  if (report.sources.length === 0) lines.push("  (none)");
  lines.push("", "Mapped names:");
  for (const entry of report.entries) lines.push(`  ${entry.name} -> ${entry.source}`);
  if (report.entries.length === 0) lines.push("  (none: every name gets Postfix's default chain)");
  if (report.notes.length > 0) lines.push("", "Notes:", ...report.notes.map((note) => `  ${note}`));
  if (report.problems.length > 0) {
    lines.push("", "Problems:");
    for (const problem of report.problems) lines.push(`  ${problem.severity}: ${problem.message}`);
  }
  lines.push(
    "",
    `${report.ok ? "OK" : "FAILED"}: ${report.errors} error${report.errors === 1 ? "" : "s"}, ${report.warnings} warning${report.warnings === 1 ? "" : "s"}`,
    "",
  );
  // A newline or ESC in a directory name stays inside its own line.
  return lines.map(escapeControl).join("\n");
}

/** The report as JSON; DEL, C1 and line separators escaped too (JSON.stringify leaves them raw). */
export function renderCheckJson(report: CheckReport): string {
  return `${JSON.stringify(report, null, 2).replace(/[\x7f-\x9f\u2028\u2029]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`)}\n`;
}
