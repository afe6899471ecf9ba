import { stringFlag, type CommandSpec } from "../command.ts";
import { planSniMapFromTree } from "../sni/index.ts";
import { UserError } from "../errors.ts";
import { buildCheckReport, failedCheckReport, renderCheckJson, renderCheckText } from "../sni/report.ts";
import { HOSTNAME_FLAG, SSL_DIR_FLAG, hostnameFromFlags } from "./sni-options.ts";

export const checkCommand: CommandSpec = {
  name: "check",
  summary: "Report every certificate source and mapped name; exit 1 on any error",
  flags: {
    "ssl-dir": SSL_DIR_FLAG,
    hostname: HOSTNAME_FLAG,
    json: { type: "boolean", description: "Print one JSON document (fields documented in README)" },
  },
  async run(context) {
    const hostname = hostnameFromFlags(context);
    const sslDir = stringFlag(context, "ssl-dir");
    let result;
    try {
      result = planSniMapFromTree({ sslDir, hostname });
    } catch (error) {
      // --json always prints a document: a monitoring script parses it even when nothing could be read.
      if (context.flags.json && error instanceof UserError) context.stdout(renderCheckJson(failedCheckReport(sslDir, hostname, error.message)));
      throw error;
    }
    const report = buildCheckReport(result);
    context.stdout(context.flags.json ? renderCheckJson(report) : renderCheckText(report));
    return report.ok ? 0 : 1;
  },
};
