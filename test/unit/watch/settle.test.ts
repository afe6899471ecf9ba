import { expect, test } from "bun:test";
import { createSettler, dueAt } from "../../../src/watch/settle.ts";

test("a burst is due a quiet time after its last event, and never later than the max delay after its first", () => {
  const options = { quietMs: 250, maxDelayMs: 2_000 };
  expect(dueAt(1_000, 1_000, options)).toBe(1_250);
  expect(dueAt(1_000, 1_500, options)).toBe(1_750);
  expect(dueAt(1_000, 2_900, options)).toBe(3_000);
});

test("500 events in a burst fire once, after the burst settles", async () => {
  let fired = 0;
  const settler = createSettler({ quietMs: 60, maxDelayMs: 5_000, fire: () => fired++ });
  const started = Date.now();
  for (let index = 0; index < 500; index++) {
    settler.poke();
    if (index % 50 === 0) await Bun.sleep(5);
  }
  const lastEvent = Date.now();
  expect(settler.pending).toBe(true);
  while (fired === 0 && Date.now() - started < 3_000) await Bun.sleep(5);
  expect(fired).toBe(1);
  expect(Date.now() - lastEvent).toBeGreaterThanOrEqual(55);
  await Bun.sleep(150);
  expect(fired).toBe(1);
  expect(settler.pending).toBe(false);
});

test("a writer that never pauses is applied at the max delay", async () => {
  let firedAt = 0;
  const settler = createSettler({ quietMs: 100, maxDelayMs: 300, fire: () => (firedAt = Date.now()) });
  const started = Date.now();
  while (firedAt === 0 && Date.now() - started < 2_000) {
    settler.poke();
    await Bun.sleep(20);
  }
  expect(firedAt - started).toBeGreaterThanOrEqual(290);
  expect(firedAt - started).toBeLessThan(600);
  settler.cancel();
});

test("cancel drops a pending burst", async () => {
  let fired = 0;
  const settler = createSettler({ quietMs: 30, maxDelayMs: 100, fire: () => fired++ });
  settler.poke();
  settler.cancel();
  await Bun.sleep(120);
  expect(fired).toBe(0);
});
