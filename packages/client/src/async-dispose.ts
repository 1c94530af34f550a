/// <reference lib="esnext.disposable" preserve="true" />

/**
 * Gives `target` a `[Symbol.asyncDispose]` method, so `await using` releases
 * it at the end of a block. The symbol is read when the object is made, not
 * when this module loads: a runtime without it (Node 20 has it; older
 * browsers may not) can polyfill it before creating the client, e.g.
 * `Symbol.asyncDispose ??= Symbol("Symbol.asyncDispose")` — the same symbol
 * TypeScript's `await using` helpers then look up. Without either, the
 * method is left out and `await using` throws; `dispose` itself still works.
 */
export function withAsyncDispose<T extends object>(
  target: T,
  dispose: () => Promise<void>,
): NoInfer<T> & AsyncDisposable {
  const symbol: symbol | undefined = (Symbol as { asyncDispose?: symbol }).asyncDispose;
  if (symbol !== undefined) (target as Record<symbol, unknown>)[symbol] = dispose;
  return target as T & AsyncDisposable;
}
