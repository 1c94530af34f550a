import { Code, ConnectError } from "@connectrpc/connect";

/**
 * What a call on a closed {@link ConclaveClient} fails with — one started
 * after `close()`, or a waiting one (`lock`, `campaign`) that `close()` cut
 * short — instead of Connect's bare "[canceled] This operation was
 * aborted". It is a `ConnectError` with code `Canceled`, so code that
 * already handles cancellation keeps working: Connect decides `instanceof
 * ConnectError` by the name "ConnectError", so that stays its `name`, and
 * `instanceof ClientClosedError` checks the prototype chain.
 *
 * @example
 * ```ts
 * client.close();
 * try {
 *   await client.lock("jobs");
 * } catch (err) {
 *   if (err instanceof ClientClosedError) return; // shutting down
 *   throw err;
 * }
 * ```
 */
export class ClientClosedError extends ConnectError {
  static override [Symbol.hasInstance](v: unknown): boolean {
    return (
      typeof v === "object" &&
      v !== null &&
      Object.prototype.isPrototypeOf.call(ClientClosedError.prototype, v)
    );
  }

  constructor(options: { cause?: unknown } = {}) {
    super("conclave: the client was closed", Code.Canceled, undefined, undefined, options.cause);
  }
}
