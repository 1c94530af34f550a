/**
 * Whether node's command line chose the V8 flag `name` (given with dashes,
 * without the leading `--`): `--name`, `--name=…`, `--no-name`, with `_` for
 * `-` anywhere, as V8 reads them. The server sets some V8 flags itself at
 * start (gc-policy.ts, tier-up-budget.ts, allocation-site-pretenuring.ts);
 * an operator's choice on the command line wins over each. Node refuses
 * these flags in NODE_OPTIONS, so the command line is the only place.
 */
export function v8FlagChosen(execArgv: readonly string[], name: string): boolean {
  const wanted = name.replaceAll("_", "-");
  return execArgv.some((arg) => {
    if (!arg.startsWith("--")) return false;
    let flag = arg.slice(2).split("=", 1)[0]?.replaceAll("_", "-") ?? "";
    if (flag.startsWith("no-")) flag = flag.slice(3);
    return flag === wanted;
  });
}
