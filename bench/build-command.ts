import packageJson from "../package.json" with { type: "json" };

// The benches build binaries the way `npm run build` builds the one the image ships: its flags
// are read from package.json, so a bench never measures a build the product does not make.
const BUILD_FLAGS = packageJson.scripts.build.split(" ").filter((word) => word.startsWith("--") && word !== "--outfile");

/** The argv that compiles ENTRIES into the single executable OUTFILE with the product's flags. */
export function buildCommand(entries: readonly string[], outfile: string): string[] {
  return [process.execPath, "build", ...BUILD_FLAGS, ...entries, "--outfile", outfile];
}
