import { defineCommand } from "../command.ts";
import { UserError } from "../errors.ts";
import type { SniMapResult } from "../sni/index.ts";
import { HOSTNAME_OPTION, SSL_DIR_OPTION, hostnameOrWarn } from "./shared-options.ts";

// The SNI engine and the report are imported when the command runs (command.ts).

export const checkCommand = defineCommand({
  name: "check",
  summary: "Report every certificate source and mapped name; exit 1 on any error",
  options: {
    "ssl-dir": SSL_DIR_OPTION,
    hostname: HOSTNAME_OPTION,
    json: { type: "boolean", description: "Print one JSON document (fields: docs/map-rules.md)" },
  },
  async run({ options, log, stdout }) {
    const { planSniMapOnAllCores } = await import("../sni/index.ts");
    const { buildCheckReport, failedCheckReport, renderCheckJson, renderCheckText } = await import("../sni/report.ts");
    const hostname = hostnameOrWarn(options.hostname, log);
    let result: SniMapResult;
    try {
      result = await planSniMapOnAllCores({ sslDir: options.sslDir, hostname, log });
    } catch (error) {
      // --json always prints a document: a monitoring script parses it even when nothing could be read.
      if (options.json && error instanceof UserError) stdout(renderCheckJson(failedCheckReport(options.sslDir, hostname, error.message)));
      throw error;
    }
    const report = buildCheckReport(result);
    stdout(options.json ? renderCheckJson(report) : renderCheckText(report));
    return report.ok ? 0 : 1;
  },
});
