import { setMaxListeners } from "node:events";
import type {
  DescMethodBiDiStreaming,
  DescMethodServerStreaming,
  DescMethodUnary,
  DescService,
} from "@bufbuild/protobuf";
import { type CallLimits, type ClientTraffic, defaultReadMaxBytes } from "@conclave/server";
import {
  Code,
  ConnectError,
  type ConnectRouter,
  createServiceImplSpec,
  type Interceptor,
  type MethodImplSpec,
} from "@connectrpc/connect";

export interface CallPipelineOptions {
  /** Registers the Connect services, e.g. `(router) => router.service(KV, kvImpl)`. */
  routes: (router: ConnectRouter) => void;
  /**
   * The layers every call passes between its transport and the service, as
   * Connect interceptors, outermost first (the server: metrics, then the
   * error table). Default none.
   */
  layers?: readonly Interceptor[];
  /** The largest request message, in bytes. Default Connect's 2^32-1. */
  readMaxBytes?: number;
  /** How deeply messages may nest (protobuf-es `recursionLimit`). Default protobuf-es's 100. */
  recursionLimit?: number;
  /** Where the transports count message bytes (the server: its metrics'). Default a count nobody reads. */
  traffic?: ClientTraffic;
}

/** A unary method as registered: what the direct unary gRPC path runs. */
export interface UnaryMethod {
  readonly service: DescService;
  readonly spec: MethodImplSpec & { kind: "unary"; method: DescMethodUnary };
}

/**
 * A server-streaming or bidi method as registered: what the direct
 * streaming gRPC path runs. (No service of ours has a client-streaming
 * method; Connect would serve one.)
 */
export interface StreamMethod {
  readonly service: DescService;
  readonly spec: MethodImplSpec &
    (
      | { kind: "server_streaming"; method: DescMethodServerStreaming }
      | { kind: "bidi_streaming"; method: DescMethodBiDiStreaming }
    );
}

/**
 * What every entry path shares, so that none rebuilds it: the services (one
 * registration), the one chain of layers, the limits and the shutdown
 * signals. Each transport builds a `CallContext` (@conclave/server) per call
 * from it and from what the transport knows (headers, TLS, deadline header):
 *
 * ```
 * Connect edge (gRPC, gRPC-Web, Connect) ─┐
 * direct gRPC paths (unary, streams) ─────┼─ CallContext ─ layers ─ service
 * JSON gateway (in-process calls) ────────┘
 * ```
 */
export interface CallPipeline {
  /**
   * Registers the services on a router. The first router it runs on (the
   * gateway's in-process one or the Connect edge's, whichever is built
   * first) also fills {@link unaryMethod}'s table: a new RPC needs only its
   * service and `routes.ts`.
   */
  readonly routes: (router: ConnectRouter) => void;
  readonly layers: readonly Interceptor[];
  readonly limits: CallLimits;
  /**
   * The bytes of request and response messages, added by each transport
   * where it has them: the direct path and the Connect edge for gRPC calls,
   * the gateway for its in-process calls (which etcd's gateway makes over
   * gRPC). gRPC-Web and the Connect protocol are not counted: etcd has neither.
   */
  readonly traffic: ClientTraffic;
  /**
   * Aborts (Unavailable "server is shutting down") when the calls in flight
   * must end: `shutdownTimeoutMs` into a close.
   */
  readonly shutdownSignal: AbortSignal;
  /**
   * Aborts with the same reason as soon as a close begins: for calls that
   * never end on their own and have nobody to retry elsewhere for (the
   * gateway's streams), so they do not hold the close for its grace period.
   */
  readonly closingSignal: AbortSignal;
  /** The registered unary method of a request path (`/pkg.Service/Method`), if any. */
  unaryMethod(path: string): UnaryMethod | undefined;
  /** The registered server-streaming or bidi method of a request path, if any. */
  streamMethod(path: string): StreamMethod | undefined;
  /** Aborts {@link closingSignal}. Idempotent. */
  beginClose(): void;
  /** Aborts {@link closingSignal} and {@link shutdownSignal}. Idempotent. */
  abortCalls(): void;
}

export function createCallPipeline(options: CallPipelineOptions): CallPipeline {
  const shutdown = new AbortController();
  const closing = new AbortController();
  // Every call in flight listens on these; many at once is normal.
  setMaxListeners(0, shutdown.signal, closing.signal);
  const shuttingDown = () => new ConnectError("server is shutting down", Code.Unavailable);
  const methods = new Map<string, UnaryMethod>();
  const streams = new Map<string, StreamMethod>();
  let recorded = false;

  function record(service: DescService, impl: object): void {
    const spec = createServiceImplSpec(service, impl as never);
    for (const m of Object.values(spec.methods)) {
      const path = `/${service.typeName}/${m.method.name}`;
      if (m.kind === "unary") methods.set(path, { service, spec: m as UnaryMethod["spec"] });
      else if (m.kind !== "client_streaming") {
        streams.set(path, { service, spec: m as StreamMethod["spec"] });
      }
    }
  }

  function routes(router: ConnectRouter): void {
    if (recorded) {
      options.routes(router);
      return;
    }
    recorded = true;
    const recording: ConnectRouter = {
      get handlers() {
        return router.handlers;
      },
      service(service, impl, opts) {
        // Per-service options (interceptors, limits) stay Connect's alone.
        if (opts === undefined) record(service, impl);
        return router.service(service, impl, opts);
      },
      rpc(method, impl, opts) {
        return router.rpc(method as never, impl as never, opts);
      },
    } as ConnectRouter;
    options.routes(recording);
  }

  const beginClose = () => {
    if (!closing.signal.aborted) closing.abort(shuttingDown());
  };

  return {
    routes,
    layers: options.layers ?? [],
    limits: {
      readMaxBytes: options.readMaxBytes ?? defaultReadMaxBytes,
      recursionLimit: options.recursionLimit,
    },
    traffic: options.traffic ?? { receivedBytes: 0, sentBytes: 0 },
    shutdownSignal: shutdown.signal,
    closingSignal: closing.signal,
    unaryMethod: (path) => methods.get(path),
    streamMethod: (path) => streams.get(path),
    beginClose,
    abortCalls() {
      beginClose();
      if (!shutdown.signal.aborted) shutdown.abort(shuttingDown());
    },
  };
}
