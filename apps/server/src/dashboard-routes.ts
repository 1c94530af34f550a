import { readFile, stat } from "node:fs/promises";
import { extname, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance, FastifyReply } from "fastify";

/** Where `npm run build -w @conclave/dashboard` writes the dashboard (apps/dashboard/dist). */
export const defaultDashboardDir = fileURLToPath(new URL("../../dashboard/dist", import.meta.url));

export interface DashboardRoutesOptions {
  /** The built dashboard: index.html and assets/. Default {@link defaultDashboardDir}. */
  dir?: string;
}

const contentTypes: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".webp": "image/webp",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
};

/** Vite puts a content hash in every file name under assets/: such a file never changes. */
const immutable = "public, max-age=31536000, immutable";

/**
 * Serves the dashboard's built files on the API's port:
 * - `GET /` (and `/index.html`): index.html with `Cache-Control: no-cache`,
 *   so a new build is picked up on the next load;
 * - `GET /assets/*`: the hashed bundles, cached as immutable for a year.
 *
 * Files are read on each request (they are small and the dashboard is
 * loaded rarely), so rebuilding while the server runs needs no restart.
 * When the dashboard was never built, `/` answers 503 with how to build it;
 * the API itself is unaffected. No other paths are claimed: Connect
 * (`/<package>.<Service>/<Method>`), `/v3/…`, `/health`, `/version` and
 * `/metrics` keep their routes.
 */
export function registerDashboardRoutes(
  app: FastifyInstance,
  options: DashboardRoutesOptions = {},
): void {
  const root = resolve(options.dir ?? defaultDashboardDir);
  const assets = resolve(root, "assets");

  const index = async (_req: unknown, reply: FastifyReply) => {
    let body: Buffer;
    try {
      body = await readFile(resolve(root, "index.html"));
    } catch {
      return reply
        .code(503)
        .type("text/plain; charset=utf-8")
        .header("cache-control", "no-store")
        .send(
          `The Conclave dashboard is not built (no index.html in ${root}).\n` +
            "Build it with `npm run build -w @conclave/dashboard` (`npm start` does), then reload.\n" +
            "The API on this port works without it.\n",
        );
    }
    return reply
      .type("text/html; charset=utf-8")
      .header("cache-control", "no-cache")
      .header("x-content-type-options", "nosniff")
      .send(body);
  };
  app.get("/", index);
  app.get("/index.html", index);

  app.get("/assets/*", async (req, reply) => {
    const rel = (req.params as { "*"?: string })["*"] ?? "";
    const file = resolve(assets, rel);
    // The wildcard is URL-decoded: refuse anything that resolves outside assets/.
    let body: Buffer | undefined;
    if (file.startsWith(assets + sep) && !rel.includes("\0")) {
      try {
        if ((await stat(file)).isFile()) body = await readFile(file);
      } catch {
        body = undefined;
      }
    }
    if (body === undefined) {
      return reply.code(404).type("text/plain; charset=utf-8").send("not found\n");
    }
    return reply
      .type(contentTypes[extname(file).toLowerCase()] ?? "application/octet-stream")
      .header("cache-control", immutable)
      .header("x-content-type-options", "nosniff")
      .send(body);
  });
}
