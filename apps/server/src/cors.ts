import { cors as connectCors } from "@connectrpc/connect";
import fastifyCors from "@fastify/cors";
import type { FastifyInstance } from "fastify";

/**
 * The headers a request carries its auth token in (see auth-guard.ts):
 * `Authorization` (etcd's gateway, Connect and browser clients) and `token`
 * (clientv3's metadata). Connect's list has neither, and a browser sends no
 * header the preflight did not allow: without them a page on another origin
 * could call the API only anonymously.
 */
const authHeaders = ["Authorization", "Token"] as const;

export interface CorsOptions {
  /**
   * Origins (`https://host[:port]`) whose pages may call the API, or `["*"]`
   * for any. Default `["*"]`, as etcd's `--cors`: the API carries no cookies
   * or other ambient credentials that cross-origin rules would protect, and
   * dashboards are usually hosted elsewhere than the server.
   */
  allowedOrigins?: readonly string[];
  /**
   * How long browsers may reuse a preflight answer, in seconds. Default 7200
   * (Chromium's cap), so a dashboard sends one preflight per method and page
   * load rather than one per call.
   */
  maxAgeSeconds?: number;
}

/**
 * Lets browser pages on other origins call every route on the port: Connect,
 * gRPC-Web, the /v3 JSON gateway and the operational GETs. Methods and
 * headers are Connect's lists for its protocols plus the auth headers; gRPC-Web needs Grpc-Status
 * and Grpc-Message exposed, or a browser client cannot read the status of a
 * call whose trailers arrive as headers.
 *
 * With a list of origins, only those get `Access-Control-Allow-Origin`
 * (their own origin, with `Vary: Origin`); other origins get no CORS headers
 * and the browser refuses them. Call before `listen()`.
 */
export function registerCors(app: FastifyInstance, options: CorsOptions = {}): CorsHeaders {
  const origins = allowedOriginsOf(options);
  app.register(fastifyCors, {
    origin: origins ?? "*",
    methods: [...connectCors.allowedMethods],
    allowedHeaders: [...connectCors.allowedHeaders, ...authHeaders],
    exposedHeaders: [...connectCors.exposedHeaders],
    maxAge: options.maxAgeSeconds ?? 7200,
    // A bare OPTIONS (no Origin / Access-Control-Request-Method) is not a
    // preflight: answer it like etcd's gateway does (200), not with 400.
    strictPreflight: false,
    optionsSuccessStatus: 200,
  });
  return createCorsHeaders(options);
}

/**
 * The CORS headers of an answer that is not a preflight, for the request's
 * `Origin` header: what {@link registerCors}'s plugin adds to every reply,
 * in its order. For the paths that answer before Fastify routes a request
 * (the gateway's unary calls), so their answers carry the same headers.
 */
export type CorsHeaders = (origin: string | undefined) => Record<string, string>;

/** As @fastify/cors joins its `exposedHeaders` list. */
const exposedHeaders = connectCors.exposedHeaders.join(", ");

/** The allowed origins, or undefined for any. */
function allowedOriginsOf(options: CorsOptions): string[] | undefined {
  const origins = options.allowedOrigins ?? ["*"];
  return origins.length === 0 || origins.includes("*") ? undefined : [...origins];
}

export function createCorsHeaders(options: CorsOptions = {}): CorsHeaders {
  const origins = allowedOriginsOf(options);
  if (origins === undefined) {
    const any = {
      "access-control-allow-origin": "*",
      "access-control-expose-headers": exposedHeaders,
    };
    return () => any;
  }
  // With a list, @fastify/cors always varies on Origin and reflects an allowed one.
  const refused = { vary: "Origin", "access-control-expose-headers": exposedHeaders };
  return (origin) =>
    origin !== undefined && origins.includes(origin)
      ? {
          vary: "Origin",
          "access-control-allow-origin": origin,
          "access-control-expose-headers": exposedHeaders,
        }
      : refused;
}
