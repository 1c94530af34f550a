import { lookup } from "node:dns/promises";
import type * as http from "node:http";
import type * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import type { TLSSocket, TlsOptions } from "node:tls";
import type { Metrics, ServerContext } from "@conclave/server";
import { createOnePortServer, type OnePortServer } from "./one-port-server.js";
import { healthAnswer } from "./operational-routes.js";

export interface MetricsListenersOptions {
  ctx: ServerContext;
  metrics: Metrics;
  /** The client TLS settings, for `https://` URLs (as etcd uses its client certificates there). */
  tls?: TlsOptions;
  /** The client port's check after each TLS handshake (`--client-crl-file`). */
  tlsCheckPeer?: (socket: TLSSocket) => string | undefined;
}

/** The `--listen-metrics-urls` listeners. */
export interface MetricsListeners {
  /** The one-port server behind them (its `tls` reloads certificates). */
  readonly onePort: OnePortServer;
  /** Listens on every URL (`localhost`: on each of its addresses); resolves with the bound URLs. */
  listen(urls: readonly string[]): Promise<string[]>;
  close(): Promise<void>;
}

type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;

/**
 * etcd's `--listen-metrics-urls`: listeners that serve only `/metrics`
 * (Prometheus text, any method, as etcd's promhttp handler) and `/health`
 * (GET; the client port's answer) — for a scraper or a load balancer's
 * health check kept off the client port. Anything else is 404 `404 page not
 * found`, a method other than GET on `/health` 405, as etcd's Go mux
 * answers. They accept HTTP/1.1, h2c and, for `https://` URLs, TLS with the
 * client port's certificates and client certificate checks.
 */
export function createMetricsListeners(options: MetricsListenersOptions): MetricsListeners {
  const { ctx, metrics } = options;
  const send = (res: Response, status: number, headers: Record<string, string>, body: string) => {
    (res as http.ServerResponse).writeHead(status, headers);
    res.end(body);
  };
  const plain = {
    "content-type": "text/plain; charset=utf-8",
    "x-content-type-options": "nosniff",
  };
  const handle = async (req: Request, res: Response) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/metrics") {
      const text = await metrics.registry.metrics();
      send(res, 200, { "content-type": metrics.registry.contentType }, text);
    } else if (path === "/health" && req.method === "GET") {
      const answer = await healthAnswer(ctx);
      send(res, answer.status, answer.headers, answer.body);
    } else if (path === "/health") {
      send(res, 405, plain, "Method Not Allowed\n");
    } else {
      send(res, 404, plain, "404 page not found\n");
    }
  };
  const onePort = createOnePortServer(
    (req: Request, res: Response) => {
      handle(req, res).catch(() => send(res, 500, plain, "Internal Server Error\n"));
    },
    {
      ...(options.tls !== undefined && { tls: options.tls }),
      ...(options.tlsCheckPeer !== undefined && { tlsCheckPeer: options.tlsCheckPeer }),
    },
  );
  let first = true;

  return {
    onePort,
    async listen(urls) {
      const bound: string[] = [];
      for (const raw of urls) {
        const url = new URL(raw);
        const scheme = url.protocol === "https:" ? "https" : "http";
        const name = url.hostname.replace(/^\[(.*)\]$/, "$1");
        const hosts =
          name === "localhost"
            ? [...new Set((await lookup(name, { all: true })).map((a) => a.address))]
            : [name];
        const port = url.port === "" ? (scheme === "https" ? 443 : 80) : Number(url.port);
        for (const host of hosts) bound.push(await listenOn(scheme, host, port));
      }
      return bound;
    },
    close: () => onePort.close(1_000),
  };

  async function listenOn(scheme: "http" | "https", host: string, port: number): Promise<string> {
    const listener = first ? onePort.server : onePort.createListener(scheme);
    if (first) onePort.setScheme(listener, scheme);
    first = false;
    await new Promise<void>((resolve, reject) => {
      listener.once("error", reject);
      listener.listen({ host, port }, () => {
        listener.removeListener("error", reject);
        resolve();
      });
    });
    const a = listener.address() as AddressInfo;
    return `${scheme}://${a.family === "IPv6" ? `[${a.address}]` : a.address}:${a.port}`;
  }
}
