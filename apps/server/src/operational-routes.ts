import { create } from "@bufbuild/protobuf";
import { RangeRequestSchema } from "@conclave/proto";
import {
  etcdApiVersion,
  etcdClusterVersion,
  type Metrics,
  type ServerContext,
} from "@conclave/server";
import type { FastifyInstance } from "fastify";

export interface OperationalRoutesOptions {
  ctx: ServerContext;
  metrics: Metrics;
  /** Conclave's own version, reported beside the etcd API version. */
  version: string;
}

const healthRead = create(RangeRequestSchema, {
  key: new TextEncoder().encode("health"),
  countOnly: true,
});

/** An answer to `GET /health`, for any HTTP server. */
export interface HealthAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * `GET /health` as etcd 3.4 answers it: `{"health":"true"}`, or 503 and
 * `"false"` when the store cannot serve a linearizable read (etcd's QGET: a
 * replica that cannot reach PostgreSQL is unhealthy, so a load balancer
 * takes it out) or an alarm is raised. Shared by the client port and the
 * `--listen-metrics-urls` listeners.
 */
export async function healthAnswer(ctx: ServerContext): Promise<HealthAnswer> {
  try {
    await ctx.kv.range(healthRead);
    await ctx.store.barrier();
    // As etcd: a raised alarm (NOSPACE) makes the member unhealthy.
    if (ctx.alarms.list().length > 0) throw new Error("alarm raised");
    return {
      status: 200,
      headers: { "content-type": "application/json" },
      body: '{"health":"true"}',
    };
  } catch {
    // etcd answers this one with Go's http.Error: plain text, a newline.
    return {
      status: 503,
      headers: { "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff" },
      body: '{"health":"false"}\n',
    };
  }
}

/**
 * etcd's operational HTTP endpoints, on the same port as the API:
 * - `GET /health` → `{"health":"true"}` (503 and `"false"` when the store
 *   cannot serve a read or an alarm is raised), as etcd 3.4 answers it;
 * - `GET /version` → `{"etcdserver":…,"etcdcluster":…}` plus `"conclave"`;
 * - `GET /metrics` → Prometheus text format.
 */
export function registerOperationalRoutes(
  app: FastifyInstance,
  options: OperationalRoutesOptions,
): void {
  const { ctx, metrics } = options;
  app.get("/health", async (_req, reply) => {
    const answer = await healthAnswer(ctx);
    return reply.code(answer.status).headers(answer.headers).send(answer.body);
  });
  app.get("/version", async (_req, reply) =>
    reply.type("application/json").send(
      JSON.stringify({
        etcdserver: etcdApiVersion,
        etcdcluster: etcdClusterVersion,
        conclave: options.version,
      }),
    ),
  );
  app.get("/metrics", async (_req, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });
}
