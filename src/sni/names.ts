import { domainToASCII } from "node:url";

// Names as Postfix looks them up in tls_server_sni_maps: case-insensitive,
// no trailing dot, A-labels for internationalized names, and `.parent` as the only
// wildcard form (a literal `*.parent` key never matches).

export type NormalizedName = { ok: true; name: string } | { ok: false; reason: string };

const MAX_NAME_LENGTH = 253;
const MAX_LABEL_LENGTH = 63;
const LDH_LABEL = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;

/**
 * The common case in one test: an ASCII host name (optionally `*.`-prefixed, optionally with a
 * trailing dot) whose labels are all valid. 10,000 names go through here on every start.
 */
const PLAIN_NAME = /^(?:\*\.)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.?$/i;

/** Turn one name from a domains file or a certificate into its sni.map key, or say why not. */
export function normalizeName(raw: string): NormalizedName {
  if (raw.length <= MAX_NAME_LENGTH && PLAIN_NAME.test(raw)) {
    const bare = (raw.endsWith(".") ? raw.slice(0, -1) : raw).toLowerCase();
    return checkMeaning(bare.startsWith("*.") ? bare.slice(1) : bare);
  }
  const unusual = normalizeUnusualName(raw);
  return unusual.ok ? checkMeaning(unusual.name) : unusual;
}

const IPV4 = /^\.?\d{1,3}(?:\.\d{1,3}){3}$/;

/**
 * Keys no CA issues and no admin means: an IPv4 address written as a DNS name (clients never
 * send an address as SNI), and a wildcard directly below a top-level domain (`*.com`, which as
 * `.com` would claim every name under it). Multi-label public suffixes (`*.co.uk`) are not
 * recognised: that needs the Public Suffix List, and CAs refuse such wildcards anyway.
 */
function checkMeaning(key: string): NormalizedName {
  if (IPV4.test(key)) return { ok: false, reason: "an IP address, not a DNS name (clients never send an address as SNI)" };
  if (key.startsWith(".") && !key.slice(1).includes(".")) return { ok: false, reason: "a wildcard directly below a top-level domain" };
  return { ok: true, name: key };
}

/** Everything the fast path does not accept: IDN, or a reason for rejecting the value. */
function normalizeUnusualName(raw: string): NormalizedName {
  if (raw === "") return { ok: false, reason: "empty name" };
  // Checked before IDN conversion: the URL host parser would silently cut `a/b` down to `a`.
  if (/[\s\p{Cc}]/u.test(raw)) return { ok: false, reason: "contains whitespace or control characters" };
  if (/[/\\?#@:%[\]<>,;"'`|^{}=+!$&()~]/.test(raw)) return { ok: false, reason: "contains characters not allowed in DNS names" };

  let name = raw.endsWith(".") ? raw.slice(0, -1) : raw;
  let wildcard = false;
  if (name.startsWith("*.")) {
    wildcard = true;
    name = name.slice(2);
  }
  if (name.includes("*")) return { ok: false, reason: "`*` is only allowed as the whole first label" };

  const ascii = /^\p{ASCII}*$/u.test(name) ? name.toLowerCase() : domainToASCII(name);
  if (ascii === "") return { ok: false, reason: "not a valid internationalized domain name" };
  const key = (wildcard ? "." : "") + ascii;
  if (key.length > MAX_NAME_LENGTH) return { ok: false, reason: `longer than ${MAX_NAME_LENGTH} characters` };
  for (const label of ascii.split(".")) {
    if (label === "") return { ok: false, reason: "empty label" };
    if (label.length > MAX_LABEL_LENGTH) return { ok: false, reason: `label longer than ${MAX_LABEL_LENGTH} characters` };
    if (!LDH_LABEL.test(label)) return { ok: false, reason: `label \`${label}\` is not letters, digits and inner hyphens` };
  }
  return { ok: true, name: key };
}

/** The words of a `domains` file: mailcow writes them space-separated; any whitespace is accepted. */
export function splitDomainsText(text: string): string[] {
  return text.split(/\s/u).filter((word) => word !== "");
}

/**
 * Whether a certificate whose DNS names are `certificateKeys` (already normalized, wildcards
 * as `.parent`) serves `key` without a name mismatch for TLS clients. A wildcard covers
 * exactly one extra label, as in RFC 6125.
 */
export function certificateCovers(certificateKeys: readonly string[], key: string): boolean {
  if (certificateKeys.includes(key)) return true;
  // A wildcard key (`.parent`, dot at 0) is covered only by the same wildcard, checked above.
  const dot = key.indexOf(".");
  return dot !== -1 && certificateKeys.includes(key.slice(dot));
}

/** A shortened, printable form of untrusted text for messages (domains files may hold anything). */
export function printable(value: string, max = 80): string {
  const escaped = JSON.stringify(value.length > max ? `${value.slice(0, max)}…` : value);
  return escaped;
}

/** The mailcow hostname as an sni.map key; undefined when not set. Wildcards are not hostnames. */
export function normalizeHostname(raw: string | undefined): NormalizedName | undefined {
  if (raw === undefined || raw === "") return undefined;
  if (raw.includes("*")) return { ok: false, reason: "a hostname cannot be a wildcard" };
  return normalizeName(raw);
}
