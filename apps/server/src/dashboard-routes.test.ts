import * as assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fastify } from "fastify";
import { registerDashboardRoutes } from "./dashboard-routes.js";

const temp = mkdtempSync(join(tmpdir(), "conclave-dashboard-"));
after(() => rmSync(temp, { recursive: true, force: true }));

/** A fake build: index.html, hashed assets, and a secret next to the dist dir. */
function fakeBuild(): string {
  const dir = join(temp, "dist");
  mkdirSync(join(dir, "assets"), { recursive: true });
  writeFileSync(join(dir, "index.html"), "<!doctype html><title>Conclave</title>");
  writeFileSync(join(dir, "assets", "index-Ab12.js"), "console.log(1)");
  writeFileSync(join(dir, "assets", "index-Cd34.css"), "body{}");
  writeFileSync(join(dir, "assets", "blob.bin"), "x");
  writeFileSync(join(temp, "secret.txt"), "s3cr3t-content");
  return dir;
}

async function appWith(dir: string) {
  const app = fastify();
  app.get("/health", async () => ({ health: "true" }));
  registerDashboardRoutes(app, { dir });
  await app.ready();
  return app;
}

describe("dashboard routes", () => {
  it("serves index.html uncached and hashed assets as immutable, with their content types", async () => {
    const app = await appWith(fakeBuild());
    const table: Array<[string, number, string, string]> = [
      ["/", 200, "text/html; charset=utf-8", "no-cache"],
      ["/index.html", 200, "text/html; charset=utf-8", "no-cache"],
      [
        "/assets/index-Ab12.js",
        200,
        "text/javascript; charset=utf-8",
        "public, max-age=31536000, immutable",
      ],
      [
        "/assets/index-Cd34.css",
        200,
        "text/css; charset=utf-8",
        "public, max-age=31536000, immutable",
      ],
      ["/assets/blob.bin", 200, "application/octet-stream", "public, max-age=31536000, immutable"],
    ];
    for (const [url, status, type, cache] of table) {
      const res = await app.inject({ method: "GET", url });
      assert.equal(res.statusCode, status, url);
      assert.equal(res.headers["content-type"], type, url);
      assert.equal(res.headers["cache-control"], cache, url);
      assert.equal(res.headers["x-content-type-options"], "nosniff", url);
    }
    assert.match((await app.inject({ method: "GET", url: "/" })).body, /<title>Conclave/);
    const head = await app.inject({ method: "HEAD", url: "/" });
    assert.equal(head.statusCode, 200);
    assert.equal(head.body, "");
    await app.close();
  });

  it("answers 404 for missing assets and anything outside assets/, and claims no other paths", async () => {
    const app = await appWith(fakeBuild());
    for (const url of [
      "/assets/nope.js",
      "/assets/",
      "/assets/%2e%2e/%2e%2e/secret.txt",
      "/assets/..%2f..%2fsecret.txt",
      "/assets/%00",
      "/secret.txt",
      "/other",
    ]) {
      const res = await app.inject({ method: "GET", url });
      assert.equal(res.statusCode, 404, url);
      assert.doesNotMatch(res.body, /s3cr3t-content|<title>/, url);
    }
    assert.equal((await app.inject({ method: "GET", url: "/health" })).statusCode, 200);
    await app.close();
  });

  it("answers 503 with how to build it when the dashboard was not built; other routes work", async () => {
    const app = await appWith(join(temp, "never-built"));
    const res = await app.inject({ method: "GET", url: "/" });
    assert.equal(res.statusCode, 503);
    assert.equal(res.headers["content-type"], "text/plain; charset=utf-8");
    assert.match(res.body, /npm run build -w @conclave\/dashboard/);
    assert.equal((await app.inject({ method: "GET", url: "/health" })).statusCode, 200);
    await app.close();
  });
});
