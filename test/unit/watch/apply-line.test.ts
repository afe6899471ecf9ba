import { expect, test } from "bun:test";
import { applyLine, namesChanged, type PlannedApply } from "../../../src/watch/apply.ts";

const planned = (held: string[]) => ({ retained: { held } }) as unknown as PlannedApply;

test("names changed: added, removed and mapped to other bytes, sorted", () => {
  const before = new Map([
    ["a.test", "sha256:1"],
    ["b.test", "sha256:2"],
    ["c.test", "sha256:3"],
  ]);
  const after = new Map([
    ["a.test", "sha256:1"],
    ["c.test", "sha256:9"],
    ["d.test", "sha256:4"],
  ]);
  expect(namesChanged(before, after)).toEqual(["b.test", "c.test", "d.test"]);
  expect(namesChanged(before, before)).toEqual([]);
});

test("one line per apply: what changed, kept pairs, reload, time", () => {
  expect(applyLine({ rebuilt: true, reloaded: true, changedNames: ["a.test"], names: 3 }, planned([]), 412.4)).toBe(
    "watch: applied in 412 ms: sni.map.db rebuilt, 1 name changed (a.test); postfix reloaded",
  );
  expect(
    applyLine({ rebuilt: true, reloaded: false, changedNames: ["a", "b", "c", "d", "e", "f", "g"], names: 9 }, planned(["/ssl/x"]), 80),
  ).toBe(
    "watch: applied in 80 ms: sni.map.db rebuilt, 7 names changed (a, b, c, d, e and 2 more); last good pair kept for 1 source; postfix not reloaded",
  );
  expect(applyLine({ rebuilt: false, reloaded: false, names: 12, unlogged: 2 }, planned([]), 38)).toBe(
    "watch: checked in 38 ms: sni.map.db unchanged (12 names mapped); 2 problems in the tree, not repeated here (`mailcow-postfix-init check` lists them)",
  );
  expect(applyLine({ rebuilt: true, reloaded: false, names: 51 }, planned([]), 286)).toBe(
    "watch: applied in 286 ms: sni.map.db rebuilt, 51 names mapped; postfix not reloaded (first build: Postfix loads it when it starts, a running smtpd before its next connection)",
  );
});

test("one and many: problems, kept sources and changed names are counted in words that agree", () => {
  expect(applyLine({ rebuilt: false, reloaded: false, names: 2, unlogged: 1 }, planned(["/ssl/x", "/ssl/y"]), 5)).toBe(
    "watch: checked in 5 ms: sni.map.db unchanged (2 names mapped; last good pair kept for 2 sources); 1 problem in the tree, not repeated here (`mailcow-postfix-init check` lists them)",
  );
  expect(applyLine({ rebuilt: true, reloaded: true, changedNames: [], names: 2 }, planned([]), 5)).toBe(
    "watch: applied in 5 ms: sni.map.db rebuilt, 0 names changed; postfix reloaded",
  );
  expect(applyLine({ rebuilt: true, reloaded: true, changedNames: ["a", "b", "c", "d", "e"], names: 5 }, planned([]), 5)).toBe(
    "watch: applied in 5 ms: sni.map.db rebuilt, 5 names changed (a, b, c, d, e); postfix reloaded",
  );
});
