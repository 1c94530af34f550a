import {
  Code,
  ConnectError,
  type ContextKey,
  type ContextValues,
  createContextKey,
  type HandlerContext,
} from "@connectrpc/connect";
import { onAbortOf } from "./abort-fanout.js";
import { tokenOf } from "./auth-guard.js";
import { peerCommonNameKey } from "./peer-identity.js";

/** The entry path a call came in by. */
export type CallProtocol = "grpc" | "grpc-web" | "connect" | "gateway";

/**
 * Who the caller says it is, as the transport received it. Not verified
 * here: the auth layer resolves it (auth-guard.ts, `callerOf`) from the
 * same two places every transport fills in — the request headers (`token`,
 * else `Authorization`) and the context value `peerCommonNameKey`.
 */
export interface CallerCredentials {
  /** The token of the request headers (`token`, else `Authorization`), if any. */
  readonly token: string | undefined;
  /**
   * The CN of the client certificate the TLS handshake verified; never from
   * a header, so a client cannot claim it. Undefined on plaintext.
   */
  readonly peerCommonName: string | undefined;
}

/** What a call may send: the same numbers on every entry path. */
export interface CallLimits {
  /** The largest request message, in bytes. Default (Connect's) 2^32-1. */
  readonly readMaxBytes: number;
  /** How deeply a message may nest (protobuf-es `recursionLimit`); undefined for its default 100. */
  readonly recursionLimit: number | undefined;
}

/**
 * One call, as every entry path sees it: built once per call by its
 * transport (the Connect edge, the direct unary gRPC path, the JSON
 * gateway), carried to the layers and the services as the context value
 * {@link callContextKey}.
 *
 * Why one type: the three paths used to each rebuild the deadline, the
 * shutdown signal, the caller's identity and the limits, and drifted apart.
 */
export interface CallContext {
  readonly protocol: CallProtocol;
  /** The RPC, as `grpc_service` / `grpc_method` label it. */
  readonly service: string;
  readonly method: string;
  /** The deadline (`Date.now()` scale), or undefined for none. */
  readonly deadline: number | undefined;
  /**
   * Aborts when the client leaves (the transport calls {@link abort}), at
   * server shutdown (the shutdown signal's reason), or at the deadline.
   *
   * Made only when first read, with the timer and listener behind it: most
   * unary calls (Range, Put, Unlock…) never read it, and building and
   * aborting signals per call was about a tenth of a small call's CPU.
   */
  readonly signal: AbortSignal;
  /**
   * Whether {@link signal} has aborted (or would have, were it made): the
   * client left, the call ended, the server is shutting down, or the
   * deadline passed. Reading it makes no signal — the checks on the hot
   * paths (a keep-alive stream per request, the metrics layer per stream)
   * use it for that reason.
   */
  readonly aborted: boolean;
  /** Milliseconds left before the deadline (negative once past), undefined for none. */
  timeoutMs(): number | undefined;
  /** Ends the call's signal with `reason` (now, or whenever it is first read). Idempotent. */
  abort(reason: unknown): void;
  /**
   * Calls `listener` once, with the reason, when {@link signal} aborts or
   * would have (at once if it has); returns a function that stops listening.
   * Without a deadline it makes no signal. Why: a stream service that only
   * lets go of its resources when the call ends (a Watch stream) made an
   * AbortController, a listener and an event dispatch per stream, ~5% of
   * opening and closing one.
   */
  onEnd(listener: (reason: unknown) => void): () => void;
  readonly credentials: CallerCredentials;
  readonly limits: CallLimits;
  /** When the transport took the call (`performance.now()` scale). */
  readonly startedAt: number;
  /** The final code's name ("OK", "NotFound", …), set by the metrics layer; undefined until then. */
  outcome: string | undefined;
}

export interface CallContextInit {
  protocol: CallProtocol;
  service: string;
  method: string;
  /** The request headers, where the token is read from (lazily). */
  requestHeader: Headers;
  /** The verified client certificate's CN; undefined for none. */
  peerCommonName: string | undefined;
  /** The deadline (`Date.now()` scale); undefined for none. */
  deadline: number | undefined;
  /**
   * The reason the signal aborts with at the deadline. Default Connect's
   * DeadlineExceeded "the operation timed out".
   */
  deadlineError?: unknown;
  /** Aborts the call's signal with its reason, e.g. at server shutdown. */
  shutdownSignal: AbortSignal | undefined;
  limits: CallLimits;
}

/** Connect's default `readMaxBytes`, and ours. */
export const defaultReadMaxBytes = 0xffffffff;

/** Where the layers and services find the call's {@link CallContext}. */
export const callContextKey = createContextKey<CallContext | undefined>(undefined, {
  description: "conclave call context",
});

/** The call context of a handler's call, if a transport of ours made one. */
export function callContextOf(hctx: Pick<HandlerContext, "values">): CallContext | undefined {
  return hctx.values.get(callContextKey);
}

/**
 * Calls `listener` once when a handler's call ends (its signal aborts), at
 * once if it has: through the call context where there is one, which makes
 * no signal for it (see {@link CallContext.onEnd}). Returns a function that
 * stops listening.
 */
export function onCallEnd(
  hctx: Pick<HandlerContext, "values" | "signal">,
  listener: () => void,
): () => void {
  return callContextOf(hctx)?.onEnd(listener) ?? onSignalEnd(hctx.signal, listener);
}

/** Calls `listener` once with the reason when `signal` aborts, at once if it has; returns a function that stops listening. */
function onSignalEnd(signal: AbortSignal, listener: (reason: unknown) => void): () => void {
  if (signal.aborted) {
    listener(signal.reason);
    return noop;
  }
  const l = () => listener(signal.reason);
  signal.addEventListener("abort", l, { once: true });
  return () => signal.removeEventListener("abort", l);
}

/** Whether a handler's call has aborted, without making its signal where the call context can tell. */
export function callAborted(hctx: Pick<HandlerContext, "values" | "signal">): boolean {
  return callContextOf(hctx)?.aborted ?? hctx.signal.aborted;
}

/**
 * Builds a call's context. A class, not closures over the init: a transport
 * makes one per call, and on a small unary call (a Put) the dozen closures
 * and getter objects were ~2 KB of garbage per call, about as much as the
 * call's own messages. The signal, its timer and its shutdown listener are
 * still made only when first read.
 */
export function createCallContext(init: CallContextInit): CallContext {
  return new LocalCallContext(init);
}

class LocalCallContext implements CallContext {
  readonly protocol: CallProtocol;
  readonly service: string;
  readonly method: string;
  readonly deadline: number | undefined;
  readonly credentials: CallerCredentials;
  readonly limits: CallLimits;
  readonly startedAt = performance.now();
  outcome: string | undefined = undefined;
  private readonly shutdownSignal: AbortSignal | undefined;
  private readonly deadlineError: unknown;
  private controller: AbortController | undefined = undefined;
  private timer: NodeJS.Timeout | undefined = undefined;
  private stopListening: (() => void) | undefined = undefined;
  private done = false;
  private doneReason: unknown = undefined;
  /** onEnd's listeners while no signal was made; undefined once called (or none). */
  private endListeners: Array<(reason: unknown) => void> | undefined = undefined;
  private stopEndOnShutdown: (() => void) | undefined = undefined;

  constructor(init: CallContextInit) {
    this.protocol = init.protocol;
    this.service = init.service;
    this.method = init.method;
    this.deadline = init.deadline;
    this.credentials = new HeaderCredentials(init.requestHeader, init.peerCommonName);
    this.limits = init.limits;
    this.shutdownSignal = init.shutdownSignal;
    this.deadlineError = init.deadlineError;
  }

  get signal(): AbortSignal {
    if (this.controller !== undefined) return this.controller.signal;
    const c = new AbortController();
    this.controller = c;
    const { shutdownSignal, deadline } = this;
    if (this.done) {
      c.abort(this.doneReason);
    } else if (shutdownSignal?.aborted === true) {
      c.abort(shutdownSignal.reason);
    } else {
      if (shutdownSignal !== undefined) {
        this.stopListening = onAbortOf(shutdownSignal, () => c.abort(shutdownSignal.reason));
      }
      if (deadline !== undefined) {
        const timedOut = () =>
          c.abort(
            this.deadlineError ??
              new ConnectError("the operation timed out", Code.DeadlineExceeded),
          );
        const left = deadline - Date.now();
        if (left <= 0) timedOut();
        else this.timer = setTimeout(timedOut, left);
      }
    }
    return c.signal;
  }

  get aborted(): boolean {
    if (this.controller !== undefined) return this.controller.signal.aborted;
    const { deadline } = this;
    return (
      this.done ||
      this.shutdownSignal?.aborted === true ||
      (deadline !== undefined && deadline - Date.now() <= 0)
    );
  }

  timeoutMs(): number | undefined {
    return this.deadline === undefined ? undefined : this.deadline - Date.now();
  }

  abort(reason: unknown): void {
    if (this.done) return;
    this.done = true;
    this.doneReason = reason;
    clearTimeout(this.timer);
    if (this.controller !== undefined) {
      this.stopListening?.();
      this.controller.abort(reason);
    }
    this.end(reason);
  }

  onEnd(listener: (reason: unknown) => void): () => void {
    const { shutdownSignal } = this;
    // A deadline needs the signal's timer; a signal made already has it all.
    if (this.controller !== undefined || this.deadline !== undefined) {
      return onSignalEnd(this.signal, listener);
    }
    if (this.done) {
      listener(this.doneReason);
      return noop;
    }
    if (shutdownSignal?.aborted === true) {
      listener(shutdownSignal.reason);
      return noop;
    }
    if (this.endListeners === undefined) {
      this.endListeners = [];
      if (shutdownSignal !== undefined) {
        this.stopEndOnShutdown = onAbortOf(shutdownSignal, () => this.end(shutdownSignal.reason));
      }
    }
    const listeners = this.endListeners;
    listeners.push(listener);
    return () => {
      const i = listeners.indexOf(listener);
      if (i >= 0) listeners.splice(i, 1);
    };
  }

  /** Calls onEnd's listeners once. */
  private end(reason: unknown): void {
    const listeners = this.endListeners;
    if (listeners === undefined) return;
    this.endListeners = undefined;
    this.stopEndOnShutdown?.();
    for (const l of listeners) l(reason);
  }
}

const noop = () => {};

/** The caller's credentials, the token read from the request headers when first asked for. */
class HeaderCredentials implements CallerCredentials {
  private read = false;
  private value: string | undefined = undefined;

  constructor(
    private readonly requestHeader: Headers,
    readonly peerCommonName: string | undefined,
  ) {}

  get token(): string | undefined {
    if (!this.read) {
      this.value = tokenOf(this.requestHeader);
      this.read = true;
    }
    return this.value;
  }
}

/**
 * The Connect context values of a call: the call itself and, for the auth
 * layer, the verified CN as `peerCommonNameKey` (the token travels in the
 * request headers, which every transport hands on).
 */
export function callContextValues(call: CallContext): ContextValues {
  const values = new CallValues().set(callContextKey, call);
  const cn = call.credentials.peerCommonName;
  if (cn !== undefined) values.set(peerCommonNameKey, cn);
  return values;
}

/**
 * Connect's ContextValues — a key's value if set, else its default — as a
 * class: Connect's `createContextValues` makes its three methods afresh for
 * every call's values.
 */
class CallValues implements ContextValues {
  get<T>(key: ContextKey<T>): T {
    return key.id in this
      ? ((this as unknown as Record<symbol, T>)[key.id] as T)
      : key.defaultValue;
  }

  set<T>(key: ContextKey<T>, value: T): this {
    (this as unknown as Record<symbol, T>)[key.id] = value;
    return this;
  }

  delete(key: ContextKey<unknown>): this {
    delete (this as unknown as Record<symbol, unknown>)[key.id];
    return this;
  }
}
