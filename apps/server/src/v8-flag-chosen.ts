import { setFlagsFromString } from "node:v8";

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

/** Where a V8 flag the server sets for itself comes from and goes to. */
export interface V8FlagOptions {
  /** Node's own flags (default `process.execArgv`): an operator's choice wins. */
  execArgv?: readonly string[];
  /** Sets V8 flags (default `v8.setFlagsFromString`). */
  setFlags?: (flags: string) => void;
}

/**
 * Sets `flag` (a whole V8 flag, e.g. `--interrupt-budget=16384`) unless node's
 * command line chose the flag `name`. Returns whether it set it.
 */
export function setV8FlagUnlessChosen(
  name: string,
  flag: string,
  options: V8FlagOptions = {},
): boolean {
  if (v8FlagChosen(options.execArgv ?? process.execArgv, name)) return false;
  (options.setFlags ?? setFlagsFromString)(flag);
  return true;
}
