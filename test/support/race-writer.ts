// A renewal that races the map build, run as its own process: it swaps a certificate
// directory between two pairs (A and B) the ways real writers do, until it is killed or, at
// the end of a round, STOP_FILE exists (it then exits with the round's pair whole on disk).
//   bun race-writer.ts DIR A_DIR B_DIR [STOP_FILE]
// Modes, in turn: cert.pem then key.pem a few ms apart (non-atomic copy); both files in
// chunks with pauses (a slow writer); the whole directory replaced with two mv's.
import { cpSync, existsSync, openSync, closeSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";

const [dir, aDir, bDir, stopFile] = process.argv.slice(2) as [string, string, string, string | undefined];
const pairs = [aDir, bDir].map((source) => ({ source, key: readFileSync(`${source}/key.pem`), cert: readFileSync(`${source}/cert.pem`) }));
const sleep = (ms: number) => Bun.sleepSync(ms);

function writeInPlace(path: string, bytes: Buffer, chunks: number) {
  const fd = openSync(path, "w"); // truncates, as cp and shell redirection do
  const size = Math.ceil(bytes.length / chunks);
  for (let offset = 0; offset < bytes.length; offset += size) {
    writeSync(fd, bytes.subarray(offset, offset + size));
    if (chunks > 1) sleep(1);
  }
  closeSync(fd);
}

for (let round = 0; ; round++) {
  const pair = pairs[round % 2]!;
  switch (round % 3) {
    case 0:
      writeInPlace(`${dir}/cert.pem`, pair.cert, 1);
      sleep(2 + (round % 4));
      writeInPlace(`${dir}/key.pem`, pair.key, 1);
      break;
    case 1:
      writeInPlace(`${dir}/cert.pem`, pair.cert, 4);
      writeInPlace(`${dir}/key.pem`, pair.key, 3);
      break;
    default:
      rmSync(`${dir}.new`, { recursive: true, force: true });
      cpSync(pair.source, `${dir}.new`, { recursive: true });
      renameSync(dir, `${dir}.old`);
      renameSync(`${dir}.new`, dir);
      rmSync(`${dir}.old`, { recursive: true, force: true });
  }
  if (stopFile && existsSync(stopFile)) process.exit(0);
  sleep(Math.floor(Math.random() * 60));
}
