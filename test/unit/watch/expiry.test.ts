import { expect, test } from "bun:test";
import type { MapEntry, ValidatedSource } from "../../../src/sni/types.ts";
import { EXPIRY_REPORT_DAYS, expiringCertificates, expiryLine } from "../../../src/watch/expiry.ts";
import type { KeptPair } from "../../../src/watch/last-good.ts";

// docs/watch.md, "Certificates close to expiry": every mapped certificate that expires within
// 14 days is named with its names and its day, soonest first; one line per certificate.

const DAY = 86_400_000;
const NOW = Date.parse("2026-12-04T12:00:00Z");
const iso = (ms: number) => new Date(ms).toISOString();
const entry = (name: string, sourceDir: string): MapEntry => ({ name, sourceDir, files: [], value: { digest: "sha256:00", length: 0 } });
const source = (dir: string, notAfter: number | undefined, usable = true): ValidatedSource =>
  ({
    source: { kind: "directory", dir, main: { keyFile: `${dir}/key.pem`, certFile: `${dir}/cert.pem` } },
    main: { valid: usable, notAfter: notAfter === undefined ? undefined : iso(notAfter) },
    usable,
  }) as unknown as ValidatedSource;

test("only certificates within 14 days of expiry are reported (expired ones included), soonest first, names sorted", () => {
  expect(EXPIRY_REPORT_DAYS).toBe(14);
  const entries = [
    entry("z.soon.test", "/ssl/soon"),
    entry("a.soon.test", "/ssl/soon"),
    entry("later.test", "/ssl/later"),
    entry("gone.test", "/ssl/gone"),
    entry("edge.test", "/ssl/edge"),
    entry("inside.test", "/ssl/inside"),
    entry("unknown.test", "/ssl/unknown"),
    entry("unmapped-source.test", "/ssl/nowhere"),
  ];
  const sources = [
    source("/ssl/soon", NOW + 3 * DAY),
    source("/ssl/later", NOW + 60 * DAY),
    source("/ssl/gone", NOW - 2 * DAY),
    source("/ssl/edge", NOW + 14 * DAY),
    source("/ssl/inside", NOW + 14 * DAY - 1),
    source("/ssl/unknown", undefined),
  ];
  const found = expiringCertificates(entries, sources, new Map(), [], NOW);
  expect(found).toEqual([
    { sourceDir: "/ssl/gone", names: ["gone.test"], expiresAt: NOW - 2 * DAY, kept: false },
    { sourceDir: "/ssl/soon", names: ["a.soon.test", "z.soon.test"], expiresAt: NOW + 3 * DAY, kept: false },
    { sourceDir: "/ssl/inside", names: ["inside.test"], expiresAt: NOW + 14 * DAY - 1, kept: false },
  ]);
  // Another window is honoured.
  expect(expiringCertificates(entries, sources, new Map(), [], NOW, 61).map((item) => item.sourceDir)).toEqual([
    "/ssl/gone",
    "/ssl/soon",
    "/ssl/inside",
    "/ssl/edge",
    "/ssl/later",
  ]);
});

test("two certificates expiring at the same moment are ordered by directory", () => {
  const entries = [entry("b.test", "/ssl/b"), entry("a.test", "/ssl/a"), entry("c.test", "/ssl/c")];
  const sources = [source("/ssl/b", NOW + DAY), source("/ssl/c", NOW + DAY), source("/ssl/a", NOW + DAY)];
  expect(expiringCertificates(entries, sources, new Map(), [], NOW).map((item) => item.sourceDir)).toEqual(["/ssl/a", "/ssl/b", "/ssl/c"]);
});

test("a source that does not load is reported by the last good pair kept for it, and only while it is held", () => {
  const kept = new Map<string, KeptPair>([
    ["/ssl/broken", { entries: [entry("broken.test", "/ssl/broken")], expiresAt: NOW + 2 * DAY }],
    ["/ssl/released", { entries: [entry("released.test", "/ssl/released")], expiresAt: NOW + 2 * DAY }],
  ]);
  const entries = [entry("broken.test", "/ssl/broken"), entry("released.test", "/ssl/released")];
  const sources = [source("/ssl/broken", NOW + 90 * DAY, false), source("/ssl/released", NOW + DAY, false)];
  expect(expiringCertificates(entries, sources, kept, ["/ssl/broken"], NOW)).toEqual([
    { sourceDir: "/ssl/broken", names: ["broken.test"], expiresAt: NOW + 2 * DAY, kept: true },
  ]);
});

test("the line names the certificate, its names, its day and the days left; an expired one says so", () => {
  const soon = { sourceDir: "/ssl/soon", names: ["a.test", "b.test"], expiresAt: NOW + 3 * DAY + DAY / 2, kept: false };
  expect(expiryLine(soon, NOW)).toBe(
    "watch: the certificate for a.test, b.test expires on 2026-12-08 (in 3 days): /ssl/soon; renew it before clients refuse it (mailcow's acme container renews 30 days ahead)",
  );
  expect(expiryLine({ ...soon, kept: true, expiresAt: NOW }, NOW)).toBe(
    "watch: the last good certificate kept for a.test, b.test expired on 2026-12-04: /ssl/soon; renew it before clients refuse it (mailcow's acme container renews 30 days ahead)",
  );
  expect(expiryLine({ ...soon, expiresAt: NOW + 1 }, NOW)).toContain("expires on 2026-12-04 (in 0 days)");
});
