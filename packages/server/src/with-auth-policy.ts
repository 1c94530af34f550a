import type { DescService } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { callerOf, verifyCallerToken } from "./auth-guard.js";
import { type AuthNeed, authPolicy } from "./auth-policy.js";
import type { ServerContext } from "./server-context.js";

// biome-ignore lint/suspicious/noExplicitAny: wraps methods of any signature
type AnyMethod = (req: any, hctx: HandlerContext) => any;

/** Checks a need that the layer answers before the handler runs. */
function checkNeed(ctx: ServerContext, hctx: HandlerContext, need: AuthNeed): void {
  if (typeof need === "object") {
    const caller = callerOf(ctx, hctx);
    try {
      ctx.auth.checkAdmin(caller);
    } catch (err) {
      const who = caller?.username ?? "";
      const own =
        need.adminUnlessOwn === "user" ? need.name === who : ctx.auth.hasRole(who, need.name);
      if (!own) throw err;
    }
    return;
  }
  const caller = callerOf(ctx, hctx); // "token": a present token must be valid
  if (need === "admin") ctx.auth.checkAdmin(caller);
}

/**
 * The auth layer of one service: wraps each method its policy entry
 * (auth-policy.ts) gives a `"token"`, `"admin"` or `adminUnlessOwn` need
 * with that check, run before the handler — for streams, before the first
 * message — so handlers hold no admin or token checks of their own.
 * `"keys"`, `"serviceKeys"` and `"adminInApply"` methods are left as they
 * are: their check runs inside the apply.
 * Refusals are thrown as the auth store's sentinels; the error interceptor
 * words them in the method's flavour (errors.ts).
 *
 * With JWTs (`--auth-token jwt,…`) every method, whatever its need, first
 * awaits the verification of the call's token ({@link verifyCallerToken}),
 * so the synchronous checks — here and inside the apply — find its caller.
 * Simple tokens are looked up synchronously where they are checked: their
 * methods are wrapped only as above.
 *
 * Throws at registration for a service without a policy or a method whose
 * entry says `"unimplemented"` but has an implementation, so the table and
 * the services cannot drift apart.
 */
export function withAuthPolicy<T extends object>(
  ctx: ServerContext,
  service: DescService,
  impl: T,
): T {
  const needs = authPolicy.get(service.typeName);
  if (needs === undefined) throw new Error(`no auth policy for ${service.typeName}`);
  const methods = impl as Record<string, AnyMethod | undefined>;
  const out: Record<string, AnyMethod | undefined> = { ...methods };
  const jwt = ctx.auth.tokenType === "jwt";
  for (const method of service.methods) {
    const m = methods[method.localName];
    const entry = needs[method.localName];
    const path = `${service.typeName}/${method.name}`;
    if (entry === undefined) throw new Error(`no auth policy for ${path}`);
    if (m === undefined) continue;
    if (entry === "unimplemented") throw new Error(`${path} is implemented; its policy says not`);
    const inApply = entry === "keys" || entry === "serviceKeys" || entry === "adminInApply";
    if (inApply && !jwt) continue;
    const check = inApply
      ? () => undefined
      : (req: unknown, hctx: HandlerContext) =>
          checkNeed(ctx, hctx, typeof entry === "function" ? entry(req as never) : entry);
    out[method.localName] =
      method.methodKind === "unary" || method.methodKind === "client_streaming"
        ? async (req, hctx) => {
            if (jwt) await verifyCallerToken(ctx, hctx);
            check(req, hctx);
            return m.call(impl, req, hctx);
          }
        : (req, hctx) =>
            afterCheck(
              async () => {
                if (jwt) await verifyCallerToken(ctx, hctx);
                check(req, hctx);
              },
              () => m.call(impl, req, hctx),
            );
  }
  return out as T;
}

const finished = Object.freeze({ done: true as const, value: undefined });

/**
 * The stream `open()` answers, opened on the first `next()` once `check`
 * has passed — what `async function* () { await check(); yield* open() }`
 * does, a refusal failing the first read, but without a generator
 * resumption (and its promise turns) per message: after the check, `next()`
 * is the inner stream's own. A stream closed before it was opened is never
 * opened.
 */
export function afterCheck<T>(
  check: () => Promise<void>,
  open: () => AsyncIterable<T>,
): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator]() {
      let inner: AsyncIterator<T> | undefined;
      let closed = false;
      let opening: Promise<AsyncIterator<T> | undefined> | undefined;
      const begin = () => {
        opening ??= check().then(
          () => {
            if (closed) return undefined;
            inner = open()[Symbol.asyncIterator]();
            return inner;
          },
          (error: unknown) => {
            closed = true;
            throw error;
          },
        );
        return opening;
      };
      const done = () => Promise.resolve(finished as IteratorResult<T>);
      return {
        next() {
          if (inner !== undefined) return inner.next();
          if (closed) return done();
          return begin().then((it) => (it === undefined ? finished : it.next()));
        },
        return(value?: unknown) {
          closed = true;
          if (inner === undefined) return done();
          return inner.return?.(value as never) ?? done();
        },
        throw(error?: unknown) {
          closed = true;
          if (inner?.throw === undefined) return Promise.reject(error);
          return inner.throw(error);
        },
      };
    },
  };
}
