/** `postmap -c CONF_DIR -q KEY MAP`: the value, or undefined when the key is not in the table. */
export function postmapQuery(key: string, map: string, confDir: string): string | undefined {
  const result = Bun.spawnSync(["postmap", "-c", confDir, "-q", key, map], { stderr: "pipe" });
  if (result.exitCode === 1 && !/fatal|error/.test(result.stderr.toString())) return undefined;
  if (result.exitCode !== 0) throw new Error(`postmap -q ${key} ${map}: exit ${result.exitCode}: ${result.stderr.toString()}`);
  return result.stdout.toString();
}
