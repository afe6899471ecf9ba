import type { Template } from "../../src/templates/template.ts";

/** The variables a template uses, each once, in order of first use. */
export const templateVariables = (template: Template) => [
  ...new Set(template.flatMap((segment) => (typeof segment === "string" ? [] : [segment.var]))),
];
