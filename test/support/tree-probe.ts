// A process that watches a certificate tree (src/watch/tree.ts) on its own, for tests that need
// another user or user namespace (permissions, inotify limits) or a process of its own:
//   bun test/support/tree-probe.ts SSL_DIR          sync twice, print {"count","lines"} as JSON, exit
//   bun test/support/tree-probe.ts SSL_DIR --stay   sync, print "watching", then keep only the watches
import { createMemoryLogger } from "../../src/log.ts";
import { watchCertificateTree } from "../../src/watch/tree.ts";

const [sslDir, mode] = process.argv.slice(2);
const log = createMemoryLogger();
const tree = watchCertificateTree(sslDir!, () => {}, log);
tree.sync();
if (mode === "--stay") {
  console.log("watching");
} else {
  tree.sync();
  console.log(JSON.stringify({ count: tree.count, lines: log.lines }));
  tree.close();
}
