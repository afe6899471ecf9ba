import { TEMPLATE_VARIABLES, type Segment, type Template, type TemplateVariable } from "./template.ts";

// Bash's expansion of an unquoted here-document body, restricted to what we can reproduce
// without running anything: `$NAME`/`${NAME}` for known variables, backslash escapes, every
// other `$` literal. Anything that would need a shell (command substitution, arithmetic,
// `${X:-y}` forms, special parameters) is an error, so the image build stops instead of
// baking wrong text into the templates.

export class HeredocShapeError extends Error {
  override name = "HeredocShapeError";
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

/**
 * Expand `body` (the lines between the heredoc start and its delimiter, each ending in "\n").
 * `allowed` are the variables this block may use; `where` names the block in errors.
 */
export function expandHeredocBody(body: string, allowed: readonly TemplateVariable[], where: string): Template {
  const segments: Segment[] = [];
  let text = "";
  const pushVariable = (name: string) => {
    if (!(TEMPLATE_VARIABLES as readonly string[]).includes(name) || !allowed.includes(name as TemplateVariable)) {
      const expected = allowed.length ? allowed.map((v) => `\${${v}}`).join(", ") : "no variables";
      throw new HeredocShapeError(`${where}: unknown variable $${name}; expected ${expected}`);
    }
    if (text) segments.push(text);
    text = "";
    segments.push({ var: name as TemplateVariable });
  };
  for (let index = 0; index < body.length; index++) {
    const char = body[index]!;
    const next = body[index + 1];
    if (char === "\\") {
      if (next === "$" || next === "`" || next === "\\") {
        text += next;
        index++;
      } else if (next === "\n") {
        index++; // line continuation: both characters vanish
      } else {
        text += char;
      }
      continue;
    }
    if (char === "`") throw new HeredocShapeError(`${where}: command substitution (\`...\`) is not supported`);
    if (char !== "$") {
      text += char;
      continue;
    }
    if (next === "(") throw new HeredocShapeError(`${where}: command substitution or arithmetic ($(...)) is not supported`);
    if (next === "{") {
      const close = body.indexOf("}", index);
      const inner = close === -1 ? "" : body.slice(index + 2, close);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(inner)) {
        throw new HeredocShapeError(`${where}: parameter expansion \${${inner}} is not supported; expected a plain \${NAME}`);
      }
      pushVariable(inner);
      index = close;
      continue;
    }
    if (next !== undefined && /[0-9@*#?$!-]/.test(next)) {
      throw new HeredocShapeError(`${where}: special parameter $${next} is not supported`);
    }
    const name = NAME.exec(body.slice(index + 1))?.[0];
    if (name) {
      pushVariable(name);
      index += name.length;
      continue;
    }
    text += "$"; // `$.`, `$'`, `$ ` and a trailing `$` are literal in bash too
  }
  if (text) segments.push(text);
  return segments;
}

/**
 * Convert the POSIX basic regular expression of a `sed '/RE/d'` line to a JavaScript one.
 * Only the plain subset (literals, escaped specials, `.`, `*`, `^`, `$`) is accepted.
 */
export function basicRegexToJs(pattern: string, where: string): string {
  let out = "";
  for (let index = 0; index < pattern.length; index++) {
    const char = pattern[index]!;
    if (char === "\\") {
      const next = pattern[index + 1];
      if (next === undefined || !/[.*[\]^$/\\]/.test(next)) {
        throw new HeredocShapeError(`${where}: regex escape \\${next ?? ""} is not supported; expected literal text`);
      }
      out += `\\${next}`;
      index++;
    } else if (char === "[" || char === "]") {
      throw new HeredocShapeError(`${where}: bracket expressions are not supported; expected literal text`);
    } else if (char === "." || char === "*") {
      out += char;
    } else if (char === "^" && index === 0) {
      out += char;
    } else if (char === "$" && index === pattern.length - 1) {
      out += char;
    } else {
      out += /[A-Za-z0-9 _=;:,@-]/.test(char) ? char : `\\${char}`;
    }
  }
  return out;
}
