// Public face of every call into Postfix's tools (postmap, postalias, postconf, postfix,
// postsuper, master): a PostfixTools value built per command from its options (tools.ts) is
// passed to each of them. output.ts reads what the tools print, keys.ts and hash-db.ts check
// the keys of a built table.
export { createPostfixTools, hasDefaultMainCf, type PostfixTools, type PostfixProgram } from "./tools.ts";
export { postconfCheckedRecord, postconfRecord, postconfValues, postlogServiceDefined } from "./config.ts";
export { masterIsRunning, postfixCreateMissing, postfixReload, postfixSetPermissions, postsuperRepair, QUEUE_LAYOUT } from "./control.ts";
export {
  mapToolConfigArgs,
  postaliasBuild,
  postmapEmbedFiles,
  postmapUpdate,
  postmapValues,
  startPostmapFeed,
  type PostmapFeed,
} from "./maps.ts";
export { compareKeys, dbHoldsExactly, expectTableKeys, postmapKeys, tableKeysDiffer } from "./keys.ts";
export { readHashDbKeys } from "./hash-db.ts";
