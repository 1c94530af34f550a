// @conclave/client as its users get it: `npm pack` of client, proto and wire
// (each built by its prepack), installed with `npm install <tarballs>` into a
// fresh folder outside the repository (their npm dependencies from the
// registry), then the same scenario — watch, lock, campaign/observe,
// whileLeader, LeaderElection, a call after close() — run against a real
// server twice: by a plain Node script, and in Chromium from a Vite build.
// Also checks that nothing under the installed packages imports `node:`.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { dirname, extname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { type RunningServer, startConclave } from "@conclave/testkit";
import { type LaunchedBrowser, launchChromium } from "./dashboard-browser.js";

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "../../..");
const fixture = join(here, "client-package");
const tsc = join(repo, "node_modules/typescript/bin/tsc");
/** In dependency order: each build resolves the one before through its dist/. */
const packed = ["wire", "proto", "client"];

/** npm without the npm_* variables of an `npm test` around us (workspace, prefix…). */
function npmEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith("npm_")),
  );
}

async function npm(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await run("npm", args, {
    cwd,
    env: npmEnv(),
    maxBuffer: 32 * 1024 * 1024,
  });
  return stdout;
}

/** Every .js file under dir. */
function jsFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith(".js"))
    .map((e) => join(e.parentPath, e.name));
}

const nodeImport = /(?:from\s*|import\s*\(\s*|import\s+)["']node:/;

const expected = {
  watch: [["put", true, "1"]],
  lock: [true, true],
  withLock: "ran",
  observe: ["a", "b"],
  whileLeader: "c",
  leaderAfter: true,
  leaderElection: {
    events: [
      ["current", "x"],
      ["entered", "y"],
    ],
    anointed: "y",
    candidates: ["y", "x"],
  },
  afterClose: "ClientClosedError",
};

describe("@conclave/client from npm pack", { timeout: 120_000 }, () => {
  let server: RunningServer;
  let app: string;
  before(async () => {
    server = await startConclave();
    app = mkdtempSync(join(tmpdir(), "conclave-client-package-"));
    // Build as prepack would (wire and proto side by side, then the client,
    // which resolves them through their dist/), then pack without scripts.
    const build = (name: string) =>
      run(process.execPath, [tsc, "-p", join(repo, "packages", name, "tsconfig.build.json")]);
    await Promise.all([build("wire"), build("proto")]);
    await build("client");
    const tarballs: string[] = [];
    for (const name of packed) {
      const out = await npm(
        join(repo, "packages", name),
        "pack",
        "--ignore-scripts",
        "--json",
        "--pack-destination",
        app,
      );
      const [info] = JSON.parse(out) as Array<{ filename: string }>;
      assert.ok(info, `npm pack of ${name} printed no file`);
      tarballs.push(join(app, info.filename));
    }
    cpSync(fixture, app, { recursive: true });
    writeFileSync(
      join(app, "package.json"),
      `${JSON.stringify({ name: "conclave-client-user", private: true, type: "module" })}\n`,
    );
    // connect-web for the transport, as the README tells users; the
    // tarballs' own dependencies come from the registry.
    await npm(
      app,
      "install",
      "--no-audit",
      "--no-fund",
      "--prefer-offline",
      ...tarballs,
      "@connectrpc/connect-web@^2.2.0",
    );
  });
  after(async () => {
    await server?.stop();
    if (app !== undefined) rmSync(app, { recursive: true, force: true });
  });

  test("the installed packages are built JavaScript with types, and import nothing from node:", () => {
    for (const name of packed) {
      const dir = join(app, "node_modules/@conclave", name);
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
      assert.equal(pkg.private, undefined);
      assert.equal(pkg.sideEffects, false);
      assert.equal(pkg.exports["."].browser.import, "./dist/index.js");
      assert.equal(pkg.exports["."].node.types, "./dist/index.d.ts");
      readFileSync(join(dir, "dist/index.d.ts"));
      readFileSync(join(dir, "dist/index.js.map"));
      const offenders = jsFiles(join(dir, "dist")).filter((f) =>
        nodeImport.test(readFileSync(f, "utf8")),
      );
      assert.deepEqual(offenders, [], `${name} imports node: modules`);
      assert.equal(
        jsFiles(join(dir, "src")).length +
          readdirSync(join(dir, "src")).filter((f) => f.endsWith(".test.ts")).length,
        0,
        "no tests shipped",
      );
    }
    const client = JSON.parse(
      readFileSync(join(app, "node_modules/@conclave/client/package.json"), "utf8"),
    );
    const server = JSON.parse(readFileSync(join(repo, "apps/server/package.json"), "utf8"));
    assert.equal(client.version, server.version, "versions move with the server's");
    assert.equal(client.dependencies["@conclave/proto"], server.version);
    assert.equal(client.dependencies["@conclave/wire"], server.version);
  });

  test("a plain Node script", async () => {
    const { stdout } = await run(process.execPath, ["node-check.mjs", server.url], { cwd: app });
    assert.deepEqual(JSON.parse(stdout), expected);
  });

  test("a Vite app in Chromium", async () => {
    await run(
      process.execPath,
      [join(repo, "node_modules/vite/bin/vite.js"), "build", "--logLevel", "warn"],
      {
        cwd: app,
        env: npmEnv(),
      },
    );
    const bundle = jsFiles(join(app, "dist"));
    assert.ok(bundle.length > 0);
    for (const f of bundle) assert.doesNotMatch(readFileSync(f, "utf8"), nodeImport);

    const types: Record<string, string> = { ".html": "text/html", ".js": "text/javascript" };
    const web: Server = createServer((req, res) => {
      const path = new URL(req.url ?? "/", "http://x").pathname;
      const file = join(app, "dist", path === "/" ? "index.html" : path);
      try {
        const body = readFileSync(file);
        res.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream" });
        res.end(body);
      } catch {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((r) => web.listen(0, "127.0.0.1", r));
    const address = web.address();
    assert.ok(address !== null && typeof address === "object");
    let browser: LaunchedBrowser | undefined;
    try {
      browser = await launchChromium();
      const page = await browser.context.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      await page.goto(
        `http://127.0.0.1:${address.port}/?endpoint=${encodeURIComponent(server.url)}`,
      );
      const handle = await page.waitForFunction(
        () => (globalThis as { scenarioResult?: unknown }).scenarioResult,
        undefined,
        { timeout: 30_000 },
      );
      assert.deepEqual(await handle.jsonValue(), expected);
      assert.deepEqual(errors, []);
    } finally {
      await browser?.close();
      web.close();
    }
  });
});
