import { create } from "@bufbuild/protobuf";
import { RangeRequestSchema } from "@conclave/proto";
import { etcdApiVersion, type Metrics, type ServerContext } from "@conclave/server";
import type { FastifyInstance } from "fastify";

export interface OperationalRoutesOptions {
  ctx: ServerContext;
  metrics: Metrics;
  /** Conclave's own version, reported beside the etcd API version. */
  version: string;
}

/**
 * etcd's operational HTTP endpoints, on the same port as the API:
 * - `GET /health` → `{"health":"true"}` (503 and `"false"` when the store
 *   cannot serve a linearizable read or an alarm is raised), as etcd 3.4
 *   answers it after a quorum read: a replica that cannot reach PostgreSQL
 *   is unhealthy, so a load balancer takes it out;
 * - `GET /version` → `{"etcdserver":…,"etcdcluster":…}` plus `"conclave"`;
 * - `GET /metrics` → Prometheus text format.
 */
const healthRead = create(RangeRequestSchema, {
  key: new TextEncoder().encode("health"),
  countOnly: true,
});

export function registerOperationalRoutes(
  app: FastifyInstance,
  options: OperationalRoutesOptions,
): void {
  const { ctx, metrics } = options;
  app.get("/health", async (_req, reply) => {
    try {
      // etcd's QGET: a linearizable read (a replica waits for the shared log's head).
      await ctx.kv.range(healthRead);
      await ctx.store.barrier();
      // As etcd: a raised alarm (NOSPACE) makes the member unhealthy.
      if (ctx.alarms.list().length > 0) throw new Error("alarm raised");
      return reply.type("application/json").send('{"health":"true"}');
    } catch {
      // etcd answers this one with Go's http.Error: plain text, a newline.
      return reply
        .code(503)
        .type("text/plain; charset=utf-8")
        .header("x-content-type-options", "nosniff")
        .send('{"health":"false"}\n');
    }
  });
  app.get("/version", async (_req, reply) =>
    reply.type("application/json").send(
      JSON.stringify({
        etcdserver: etcdApiVersion,
        etcdcluster: etcdApiVersion,
        conclave: options.version,
      }),
    ),
  );
  app.get("/metrics", async (_req, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });
}
