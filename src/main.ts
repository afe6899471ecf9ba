import { run } from "./cli.ts";

// The only module with process-wide side effects.
process.exitCode = await run(process.argv.slice(2), process.env);
