import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "./docker.ts";

// arm64 programs on this x86-64 machine: binfmt_misc hands every aarch64 ELF to Debian
// trixie's static qemu-aarch64 (fetched by test/support/ensure-qemu-arm64.sh). Registered with
// the F flag (the kernel opens the interpreter once, at registration), so it also runs inside
// containers, whose root file systems have no qemu. A kernel-wide setting: registered for the
// test's run only, under our own name, and removed again afterwards.

export const QEMU_DIR = process.env.MPI_QEMU_DIR ?? "/var/tmp/mpi-qemu";
const BINFMT = "/proc/sys/fs/binfmt_misc";
const ENTRY = "mpi-qemu-aarch64";

/** ELF64, little-endian, e_machine 0xb7 (AArch64); the mask ignores the ABI version and e_type's low bit. */
const MAGIC = "\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00";
const MASK = "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff";

export interface Arm64Emulation {
  qemu: string;
  /** Remove what this run registered (and the binfmt_misc mount, when this run made it). */
  undo(): Promise<void>;
}

/**
 * Make aarch64 binaries run here. The newest registration is matched first, so ours wins over
 * an older qemu-aarch64 handler the host may have (Debian 12's 7.2 aborts the arm64 Bun).
 */
export async function enableArm64Emulation(): Promise<Arm64Emulation> {
  const qemu = join(QEMU_DIR, "qemu-aarch64");
  if (!existsSync(qemu)) throw new Error(`${qemu} missing: run test/support/ensure-qemu-arm64.sh as root`);
  let mounted = false;
  if (!existsSync(join(BINFMT, "register"))) {
    await run(["mount", "-t", "binfmt_misc", "binfmt_misc", BINFMT]);
    mounted = true;
  }
  const entry = join(BINFMT, ENTRY);
  let registered = false;
  if (!existsSync(entry)) {
    writeFileSync(join(BINFMT, "register"), `:${ENTRY}:M::${MAGIC}:${MASK}:${qemu}:F`);
    registered = true;
  } else if (!readFileSync(entry, "utf8").includes(`interpreter ${qemu}\n`)) {
    throw new Error(`${entry} is registered with another interpreter: ${readFileSync(entry, "utf8").split("\n")[1]}`);
  }
  return {
    qemu,
    async undo() {
      if (registered && existsSync(entry)) writeFileSync(entry, "-1");
      if (mounted) await run(["umount", BINFMT], { allowFailure: true });
    },
  };
}
