// The second half of a renewal, as its own process so it runs while the engine waits:
//   bun late-key-writer.ts NEW_KEY KEY_FILE GAP_MS
// Prints "ready" once it listens; on SIGUSR1 it waits GAP_MS, writes NEW_KEY's bytes over
// KEY_FILE in place (truncate + write, as cp does), prints the time of the write (ms) and exits.
import { readFileSync, writeFileSync } from "node:fs";

const [source, target, gap] = process.argv.slice(2) as [string, string, string];
const bytes = readFileSync(source);
process.on("SIGUSR1", () => {
  setTimeout(() => {
    writeFileSync(target, bytes);
    process.stdout.write(`${Date.now()}\n`, () => process.exit(0));
  }, Number(gap));
});
process.stdout.write("ready\n");
setInterval(() => {}, 60_000);
