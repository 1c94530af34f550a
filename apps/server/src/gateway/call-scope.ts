import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { DescMethod } from "@bufbuild/protobuf";
import { IndexedSet } from "@conclave/core";
import { type CallContext, callContextValues, createCallContext } from "@conclave/server";
import { Code, ConnectError, type ContextValues } from "@connectrpc/connect";
import type { CallPipeline } from "../call-pipeline.js";
import { verifiedPeerCommonName } from "../tls-peer-identity.js";
import { type GatewayError, toGatewayError } from "./gateway-errors.js";

/** The in-process call's lifetime: the client's connection and the `Grpc-Timeout` deadline. */
export interface CallScope {
  /** The call context, as every entry path builds one. */
  readonly call: CallContext;
  /** Request headers to forward: `Authorization` and `Grpc-Metadata-*`. */
  readonly header: Headers;
  /** The call's context values: the call and the verified client certificate's CN. */
  readonly contextValues: ContextValues;
  /** True when the client went away: nothing more is written. */
  clientGone(): boolean;
  /** The error to report instead of whatever the aborted call threw (deadline, shutdown). */
  abortError(): GatewayError | undefined;
  /** Marks the response complete (a later close is not a disconnect) and stops the timer. */
  finish(): void;
  /**
   * `work`, or its rejection with the reason the call ends early for: the
   * deadline, shutdown, the client leaving — so the answer does not wait
   * for a handler that does not look at its signal, as Connect's router
   * transport raced it.
   */
  race<T>(work: Promise<T>): Promise<T>;
}

/**
 * The unary calls in flight, so that shutdown ends them with one listener
 * on the shutdown signal rather than one per call: a call's own signal (an
 * AbortController, listeners and a timer) is made only when something reads it.
 */
export interface UnaryCallRegistry {
  add(stop: (reason: unknown) => void): boolean;
  delete(stop: (reason: unknown) => void): void;
}

export function createUnaryCallRegistry(shutdownSignal: AbortSignal): UnaryCallRegistry {
  // An IndexedSet, not a Set: one add and delete per call (see there).
  const live = new IndexedSet<(reason: unknown) => void>();
  shutdownSignal.addEventListener(
    "abort",
    () => {
      for (const stop of live.snapshot()) stop(shutdownSignal.reason);
      live.clear();
    },
    { once: true },
  );
  return {
    /** False (and `stop` called) when shutdown has already begun. */
    add(stop) {
      if (shutdownSignal.aborted) {
        stop(shutdownSignal.reason);
        return false;
      }
      live.add(stop);
      return true;
    },
    delete: (stop) => live.delete(stop),
  };
}

/** The reason a gateway call's signal aborts with at its deadline, in Go's words. */
const deadlineExceeded = () => new ConnectError("context deadline exceeded", Code.DeadlineExceeded);

/** Why a finished call's signal aborts: nothing reads it. */
const callFinished = new ConnectError("the call has finished", Code.Canceled);

/**
 * The gateway's call context: deadline from `Grpc-Timeout`, cancellation
 * when the client disconnects and at shutdown — for unary calls when gRPC
 * calls are aborted too, for streams (a watch never ends by itself) as soon
 * as the app starts closing, instead of holding the close until its grace
 * period is over and their connections are cut.
 */
export function openCallScope(
  req: IncomingMessage | Http2ServerRequest,
  res: ServerResponse | Http2ServerResponse,
  method: DescMethod,
  pipeline: CallPipeline,
  unaryCalls: UnaryCallRegistry,
): CallScope {
  // First, as it may throw (InvalidArgument): nothing is registered yet.
  const timeoutMs = parseGrpcTimeout(req.headers["grpc-timeout"]);
  const header = forwardedHeaders(req.headers);
  const call = createCallContext({
    protocol: "gateway",
    service: method.parent.typeName,
    method: method.name,
    requestHeader: header,
    peerCommonName: verifiedPeerCommonName(req),
    deadline: timeoutMs === undefined ? undefined : Date.now() + timeoutMs,
    // Only with a deadline: a ConnectError (and its stack trace) per call was ~5% of a Range's CPU.
    ...(timeoutMs !== undefined && { deadlineError: deadlineExceeded() }),
    shutdownSignal:
      method.methodKind === "unary" ? pipeline.shutdownSignal : pipeline.closingSignal,
    limits: pipeline.limits,
  });
  // Go's context is already expired for a deadline under a millisecond.
  if (timeoutMs !== undefined && timeoutMs < 1) call.abort(deadlineExceeded());
  let gone = false;
  let finished = false;
  let stopEarly: ((reason: unknown) => void) | undefined;

  const onClientGone = () => {
    if (finished) return;
    gone = true;
    const reason = new ConnectError("client disconnected", Code.Canceled);
    call.abort(reason);
    stopEarly?.(reason);
  };
  res.once("close", onClientGone);

  return {
    call,
    header,
    contextValues: callContextValues(call),
    clientGone: () => gone,
    abortError() {
      const { signal } = call;
      return !gone && signal.aborted ? toGatewayError(signal.reason) : undefined;
    },
    finish() {
      if (finished) return;
      finished = true;
      call.abort(callFinished);
    },
    race(work) {
      // With a deadline the signal's timer is needed anyway: race it.
      if (timeoutMs !== undefined) return raceSignal(call.signal, work);
      return new Promise((resolve, reject) => {
        const stop = (reason: unknown) => {
          stopEarly = undefined;
          unaryCalls.delete(stop);
          call.abort(reason);
          reject(reason);
        };
        if (gone) return stop(call.signal.reason);
        if (!unaryCalls.add(stop)) return;
        stopEarly = stop;
        const settled = () => {
          stopEarly = undefined;
          unaryCalls.delete(stop);
        };
        work.then(
          (value) => {
            settled();
            resolve(value);
          },
          (err: unknown) => {
            settled();
            reject(err);
          },
        );
      });
    },
  };
}

/** `work`, or the signal's reason once it aborts first. */
function raceSignal<T>(signal: AbortSignal, work: Promise<T>): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}

/** gRPC's `Grpc-Timeout` (digits and a unit of H, M, S, m, u, n) in milliseconds. */
function parseGrpcTimeout(value: string | string[] | undefined): number | undefined {
  if (value === undefined) return undefined;
  const text = Array.isArray(value) ? (value[0] ?? "") : value;
  const m = /^(\d+)([HMSmun])$/.exec(text);
  if (m === null) throw new ConnectError(`invalid grpc-timeout: ${text}`, Code.InvalidArgument);
  const perUnit = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };
  return Number(m[1]) * perUnit[m[2] as keyof typeof perUnit];
}

/**
 * What grpc-gateway passes on as gRPC metadata: the `Authorization` header
 * (etcd's auth token) and every `Grpc-Metadata-<name>` header as `<name>`.
 */
function forwardedHeaders(headers: IncomingHttpHeaders): Headers {
  const out = new Headers();
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    let key: string;
    if (name === "authorization") key = name;
    else if (name.startsWith("grpc-metadata-")) key = name.slice("grpc-metadata-".length);
    else continue;
    for (const v of Array.isArray(value) ? value : [value]) out.append(key, v);
  }
  return out;
}
