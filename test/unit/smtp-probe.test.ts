import { describe, expect, test } from "bun:test";
import { availability } from "../support/smtp-probe.ts";

// The arithmetic behind the README's SMTP-outage numbers.

const samples = (pattern: string) => [...pattern].map((c, i) => ({ at: i * 100, up: c === "+" }));

describe("availability", () => {
  test("two outages: each from the last banner before to the first after; longest and total", () => {
    expect(availability(samples("++---+-+"))).toEqual({
      attempts: 8,
      up: 4,
      longestOutageMs: 400,
      totalOutageMs: 600,
      outages: 2,
      windows: [
        { from: 100, to: 500 },
        { from: 500, to: 700 },
      ],
    });
  });

  test("never down: no outage; down at the end: counted up to the last attempt", () => {
    expect(availability(samples("+++"))).toEqual({ attempts: 3, up: 3, longestOutageMs: 0, totalOutageMs: 0, outages: 0, windows: [] });
    expect(availability(samples("+--"))).toEqual({
      attempts: 3,
      up: 1,
      longestOutageMs: 200,
      totalOutageMs: 200,
      outages: 1,
      windows: [{ from: 0, to: 200 }],
    });
  });
});
