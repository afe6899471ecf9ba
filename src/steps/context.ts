import type { StartEnv } from "../env.ts";
import type { Logger } from "../log.ts";
import type { PostfixTools } from "../postfix/index.ts";
import type { Templates } from "../templates/template.ts";

// What every startup step receives: one object instead of a dozen parameters.

export interface StartPaths {
  confDir: string;
  sslDir: string;
  spoolDir: string;
  mysqlSocket: string;
  aliasesFile: string;
}

/** Owner ids the generated files get (root:postfix, postdrop for the queue's public dirs). */
export interface PostfixIds {
  postfixGid: number;
  postdropGid: number;
}

export interface StepContext {
  paths: StartPaths;
  env: StartEnv;
  templates: Templates;
  log: Logger;
  /** Postfix's tools with the command's MAIL_CONFIG and environment. */
  tools: PostfixTools;
}
