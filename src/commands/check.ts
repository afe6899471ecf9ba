import { stringFlag, type CommandSpec } from "../command.ts";
import { planSniMapFromTree } from "../sni/index.ts";
import { buildCheckReport, renderCheckText } from "../sni/report.ts";
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
    const result = planSniMapFromTree({ sslDir: stringFlag(context, "ssl-dir"), hostname });
    const report = buildCheckReport(result);
    context.stdout(context.flags.json ? `${JSON.stringify(report, null, 2)}\n` : renderCheckText(report));
    return report.ok ? 0 : 1;
  },
};
