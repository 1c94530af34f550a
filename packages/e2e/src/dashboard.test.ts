// The dashboard in a real browser: Debian's Chromium (headless, through
// playwright-core) opens the page the real conclave CLI serves at "/", and
// other clients — @conclave/client over gRPC from Node, and etcdctl — change
// elections, locks and keys. The page must show each change without a
// reload, within 1 s of the change's response. A screenshot is saved to
// packages/e2e/artifacts/dashboard.png.
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { type ConclaveClient, createConclaveClient } from "@conclave/client";
import { type RunningServer, requireTool, startConclave } from "@conclave/testkit";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { Page } from "playwright-core";
import { type LaunchedBrowser, launchChromium, read, waitForPage } from "./dashboard-browser.js";
import { etcdctl } from "./etcdctl.js";

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, "..", "..", "..");
const screenshotPath = join(here, "..", "artifacts", "dashboard.png");
/** The longest a change may take to appear on the page. */
const liveMs = 1_000;

/** Measured latencies, printed at the end. */
const timings: string[] = [];

describe("dashboard in Chromium", () => {
  let server: RunningServer;
  let browser: LaunchedBrowser;
  let page: Page;
  let client: ConclaveClient;
  const pageErrors: string[] = [];
  const foreignRequests: string[] = [];
  const spawned: ChildProcess[] = [];
  let other: RunningServer | undefined;

  before(async () => {
    // Always test the current sources (a build takes about a second).
    execFileSync("npm", ["run", "build", "-w", "@conclave/dashboard"], {
      cwd: repoRoot,
      stdio: "pipe",
    });
    [server, browser] = await Promise.all([startConclave(), launchChromium()]);
    client = createConclaveClient(createGrpcTransport({ baseUrl: server.url }));
    page = await browser.context.newPage();
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    // Every request the page makes must go to a Conclave under test: no CDN.
    browser.context.on("request", (r) => {
      const origin = new URL(r.url()).origin;
      if (origin !== server.url && origin !== other?.url) foreignRequests.push(r.url());
    });
    page.on("console", (m) => {
      if (m.type() === "error") pageErrors.push(m.text());
    });
    await page.goto(`${server.url}/`);
    await waitForPage(page, "connected", (s) => s.status === "connected", { timeoutMs: 10_000 });
  });

  after(async () => {
    try {
      if (page !== undefined) {
        mkdirSync(dirname(screenshotPath), { recursive: true });
        await page.screenshot({ path: screenshotPath, fullPage: true });
        console.log(`dashboard screenshot: ${screenshotPath}`);
      }
      for (const t of timings) console.log(t);
    } finally {
      for (const p of spawned) if (p.exitCode === null) p.kill("SIGKILL");
      client?.close();
      await browser?.close();
      await Promise.all([server?.stop(), other?.stop()]);
    }
  });

  test("the server serves the dashboard at / (index no-cache, hashed assets immutable), beside the API", async () => {
    const index = await fetch(`${server.url}/`);
    assert.equal(index.status, 200);
    assert.equal(index.headers.get("content-type"), "text/html; charset=utf-8");
    assert.equal(index.headers.get("cache-control"), "no-cache");
    const html = await index.text();
    const asset = /src="\.\/(assets\/[^"]+\.js)"/.exec(html)?.[1];
    assert.ok(asset, `index.html references a hashed script: ${html}`);
    assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//, "no remote scripts or styles");
    const js = await fetch(`${server.url}/${asset}`);
    assert.equal(js.status, 200);
    assert.equal(js.headers.get("content-type"), "text/javascript; charset=utf-8");
    assert.equal(js.headers.get("cache-control"), "public, max-age=31536000, immutable");
    assert.equal((await fetch(`${server.url}/health`)).status, 200);
    assert.equal((await fetch(`${server.url}/version`)).status, 200);
  });

  test("elections: revoking the leader's lease shows the new leader and term within 1 s", async () => {
    const le = client.leaderElection("dash-jobs");
    const alphaLease = await client.grantLease(30);
    const betaLease = await client.grantLease(30);
    await le.enter("alpha", { lease: alphaLease });
    await le.enter("beta", { lease: betaLease });
    const shownAlpha = await waitForPage(
      page,
      "alpha leads term 1",
      (s) => {
        const e = s.elections["dash-jobs"];
        return e?.leader === "alpha" && e.term === "1" && e.candidates.join() === "alpha,beta";
      },
      { timeoutMs: 5_000 },
    );
    const before = await read(page);
    assert.equal(before.elections["dash-jobs"]?.kind, "conclave");
    assert.match(before.elections["dash-jobs"]?.ttl ?? "", /^([1-9]|[12][0-9]|30) s$/);
    // Leases are polled every second.
    await waitForPage(
      page,
      "both leases listed",
      (s) =>
        s.leases.includes(alphaLease.id.toString(16)) &&
        s.leases.includes(betaLease.id.toString(16)),
      { timeoutMs: 3_000 },
    );

    await alphaLease.revoke();
    const revoked = performance.now();
    const ms = await waitForPage(
      page,
      "beta leads term 2",
      (s) => {
        const e = s.elections["dash-jobs"];
        return e?.leader === "beta" && e.term === "2" && e.candidates.join() === "beta";
      },
      { timeoutMs: liveMs, since: revoked },
    );
    timings.push(
      `election: first state shown ${shownAlpha.toFixed(0)} ms after enter; new leader + term ${ms.toFixed(0)} ms after LeaseRevoke answered`,
    );
    assert.ok(ms <= liveMs, `${ms} ms`);
  });

  test("locks: a hand-over shows the new holder within 1 s", async () => {
    const first = await client.grantLease(30);
    const second = await client.grantLease(30);
    const held = await client.lock("dash-lock", { lease: first });
    const waiting = client.lock("dash-lock", { lease: second });
    const hex1 = first.id.toString(16);
    const hex2 = second.id.toString(16);
    await waitForPage(
      page,
      "first holds, second waits",
      (s) => s.locks["dash-lock"]?.holder === hex1 && s.locks["dash-lock"]?.waiters.join() === hex2,
      { timeoutMs: 5_000 },
    );
    await held.unlock();
    const unlocked = performance.now();
    const ms = await waitForPage(
      page,
      "second holds",
      (s) => s.locks["dash-lock"]?.holder === hex2 && s.locks["dash-lock"]?.waiters.length === 0,
      { timeoutMs: liveMs, since: unlocked },
    );
    timings.push(`lock: new holder shown ${ms.toFixed(0)} ms after Unlock answered`);
    assert.ok(ms <= liveMs, `${ms} ms`);
    await waiting; // the Lock RPC returned too
  });

  test("keys: an etcdctl put shows in the key browser and the feed within 1 s; older revisions show old values", async () => {
    const put = (value: string) => {
      const r = etcdctl(server.endpoint, ["put", "dash/key", value, "-w", "json"]);
      assert.equal(r.code, 0, r.stderr);
      return String(JSON.parse(r.stdout).header.revision);
    };
    const rev1 = put("v1");
    await page.getByTestId("kb-prefix").fill("dash/");
    await page.getByTestId("kb-read").click();
    await waitForPage(page, "v1", (s) => s.kvs["dash/key"]?.value === "v1", { timeoutMs: 5_000 });

    const rev2 = put("v2");
    const done = performance.now();
    const ms = await waitForPage(
      page,
      "v2 in the key browser and on top of the feed",
      (s) =>
        s.kvs["dash/key"]?.value === "v2" &&
        s.kvs["dash/key"]?.mod === rev2 &&
        s.kvs["dash/key"]?.version === "2" &&
        s.feed[0]?.key === "dash/key" &&
        s.feed[0]?.value === "v2" &&
        s.feed[0]?.revision === rev2,
      { timeoutMs: liveMs, since: done },
    );
    timings.push(
      `keys: etcdctl put shown in key browser and feed ${ms.toFixed(0)} ms after it returned`,
    );
    assert.ok(ms <= liveMs, `${ms} ms`);
    assert.equal((await read(page)).kvs["dash/key"]?.create, rev1);

    // The key browser at the older revision shows the old value.
    await page.getByTestId("kb-revision").fill(rev1);
    await page.getByTestId("kb-revision").press("Enter");
    await waitForPage(
      page,
      `v1 at revision ${rev1}`,
      (s) =>
        s.kvs["dash/key"]?.value === "v1" &&
        s.kvs["dash/key"]?.mod === rev1 &&
        s.kbStatus.includes(`at revision ${rev1}`),
      { timeoutMs: 5_000 },
    );
    // Its history up to the revision shown, newest first.
    await page.locator('[data-testid="kv"][data-key="dash/key"]').click();
    await waitForPage(page, "history", (s) => s.history.join() === rev1, { timeoutMs: 5_000 });
    await page.getByTestId("kb-latest").click();
    await waitForPage(page, "latest again", (s) => s.kvs["dash/key"]?.value === "v2", {
      timeoutMs: 5_000,
    });
    await page.locator('[data-testid="kv"][data-key="dash/key"]').click();
    await waitForPage(page, "history", (s) => s.history.join() === `${rev2},${rev1}`, {
      timeoutMs: 5_000,
    });
  });

  test("v3election: etcdctl elect candidates show with the leader first", async () => {
    const bin = requireTool("etcdctl");
    const elect = (proposal: string) => {
      const p = spawn(bin, [`--endpoints=${server.endpoint}`, "elect", "dash-vote", proposal], {
        env: { ...process.env, ETCDCTL_API: "3" },
        stdio: "ignore",
      });
      spawned.push(p);
      return p;
    };
    elect("node-1");
    await waitForPage(page, "node-1 leads", (s) => s.elections["dash-vote"]?.leader === "node-1", {
      timeoutMs: 10_000,
    });
    elect("node-2");
    await waitForPage(
      page,
      "node-2 waits",
      (s) => {
        const e = s.elections["dash-vote"];
        return (
          e?.kind === "v3election" &&
          e.candidates.length === 2 &&
          e.candidates[0]?.startsWith("node-1") === true &&
          e.candidates[1]?.startsWith("node-2") === true
        );
      },
      { timeoutMs: 10_000 },
    );
  });

  test("?endpoint= points the dashboard at another Conclave (CORS)", async () => {
    other = await startConclave();
    const second = await browser.context.newPage();
    try {
      await second.goto(`${server.url}/?endpoint=${encodeURIComponent(other.url)}`);
      await waitForPage(second, "connected", (s) => s.status === "connected", {
        timeoutMs: 10_000,
      });
      const r = etcdctl(other.endpoint, ["put", "elsewhere", "yes"]);
      assert.equal(r.code, 0, r.stderr);
      await waitForPage(
        second,
        "the other server's change",
        (s) => s.feed[0]?.key === "elsewhere" && s.kvs.elsewhere?.value === "yes",
        { timeoutMs: 5_000 },
      );
      assert.equal(await second.getByTestId("endpoint").textContent(), other.url);
      assert.equal(
        (await read(second)).kvs["dash/key"],
        undefined,
        "not the serving server's keys",
      );
    } finally {
      await second.close();
    }
  });

  test("elections nobody is in: created ones are marked idle, left or closed ones disappear", async () => {
    const le = client.services.leaderElection;
    await le.create({ election: "dash-idle" });
    await waitForPage(
      page,
      "dash-idle shown idle",
      (s) => s.elections["dash-idle"]?.idle === true && s.elections["dash-idle"]?.leader === "none",
      { timeoutMs: liveMs },
    );
    await le.enter({ election: "dash-idle", candidateId: "w1" });
    await waitForPage(
      page,
      "w1 leads, not idle",
      (s) => s.elections["dash-idle"]?.idle === false && s.elections["dash-idle"]?.leader === "w1",
      { timeoutMs: liveMs },
    );
    await le.withdraw({ election: "dash-idle", candidateId: "w1" });
    await waitForPage(page, "idle again", (s) => s.elections["dash-idle"]?.idle === true, {
      timeoutMs: liveMs,
    });
    // Idle ones are listed after the active ones.
    const order = await page
      .locator('[data-testid="election"]')
      .evaluateAll((els) => els.map((e) => e.getAttribute("data-idle")));
    assert.equal(order.indexOf("true"), order.length - 1, `idle last: ${order.join()}`);
    await le.close({ election: "dash-idle" });
    await waitForPage(page, "closed: gone", (s) => s.elections["dash-idle"] === undefined, {
      timeoutMs: liveMs,
    });
    // Entered without Create, then everyone left: not listed, not shown.
    await le.enter({ election: "dash-left", candidateId: "solo" });
    await waitForPage(page, "dash-left", (s) => s.elections["dash-left"]?.leader === "solo", {
      timeoutMs: liveMs,
    });
    await le.withdraw({ election: "dash-left", candidateId: "solo" });
    await waitForPage(page, "left: gone", (s) => s.elections["dash-left"] === undefined, {
      timeoutMs: liveMs,
    });
  });

  test("the page logged no errors and fetched nothing from elsewhere", () => {
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(foreignRequests, []);
  });

  // Last: the browser logs the refused connections while the server is down.
  test("after kill -9 every panel keeps its data under 'reconnecting… (last data from rev N, T s ago)'; a restart brings it back live", async () => {
    const seenBefore = BigInt((await read(page)).revision);
    await server.kill();
    await waitForPage(page, "disconnected", (s) => s.status === "disconnected" && s.error !== "", {
      timeoutMs: 5_000,
    });
    // The last revision the page had: what the header shows once the connection is gone.
    const lastRevision = (await read(page)).revision;
    assert.ok(BigInt(lastRevision) >= seenBefore);
    const staleText = new RegExp(
      `^reconnecting… \\(last data from rev ${lastRevision}, \\d+ s ago\\)$`,
    );
    await waitForPage(
      page,
      "every panel says it is reconnecting, with the last revision",
      (s) =>
        ["elections", "locks", "leases", "events", "keys"].every((id) =>
          staleText.test(s.stale[id] ?? ""),
        ) && staleText.test(s.statusText),
      { timeoutMs: 5_000 },
    );
    // Nothing blanks, nothing says live.
    const shown = await read(page);
    assert.equal(shown.elections["dash-jobs"]?.leader, "beta", "elections keep their last data");
    assert.equal(shown.kvs["dash/key"]?.value, "v2", "keys keep their last data");
    assert.doesNotMatch(shown.kbStatus, /^live ·/);
    assert.match(shown.kbStatus, /not live/);
    // The "T s ago" counts on.
    await new Promise((r) => setTimeout(r, 2_100));
    const later = Number(/(\d+) s ago/.exec((await read(page)).stale.elections ?? "")?.[1]);
    assert.ok(later >= 2, `still counting: ${later} s ago`);
    server = await startConclave({ dataDir: server.dataDir, port: server.port });
    await waitForPage(
      page,
      "reconnected, notices gone",
      (s) => s.status === "connected" && Object.keys(s.stale).length === 0,
      { timeoutMs: 10_000 },
    );
    const r = etcdctl(server.endpoint, ["put", "dash/after-restart", "yes"]);
    assert.equal(r.code, 0, r.stderr);
    const done = performance.now();
    const ms = await waitForPage(
      page,
      "a change after the restart",
      (s) =>
        s.feed[0]?.key === "dash/after-restart" &&
        s.kvs["dash/after-restart"]?.value === "yes" &&
        s.kvs["dash/key"]?.value === "v2",
      { timeoutMs: liveMs, since: done },
    );
    timings.push(
      `restart: etcdctl put after the restart shown ${ms.toFixed(0)} ms after it returned`,
    );
    // The lease poll (every second) clears its error with its next answer.
    await waitForPage(page, "no error banner", (s) => s.error === "", { timeoutMs: 3_000 });
  });
});
