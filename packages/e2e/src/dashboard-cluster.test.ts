// The dashboard's cluster panel and live charts in Debian's Chromium against
// the real conclave CLI, compared with what the real etcdctl reports:
// version, member, revision; charts fed by the server's /metrics.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type ConclaveClient, createConclaveClient } from "@conclave/client";
import { type RunningServer, startConclave } from "@conclave/testkit";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { Page } from "playwright-core";
import {
  buildDashboard,
  type LaunchedBrowser,
  launchChromium,
  waitForPage,
} from "./dashboard-browser.js";
import { etcdctl, parseJson } from "./etcdctl.js";

describe("dashboard cluster panel and charts", () => {
  let server: RunningServer;
  let browser: LaunchedBrowser;
  let page: Page;
  let client: ConclaveClient;

  const ctl = (...args: string[]) => {
    const r = etcdctl(server.endpoint, args);
    assert.equal(r.code, 0, `etcdctl ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  const text = async (id: string) => (await page.getByTestId(id).first().textContent()) ?? "";
  async function waitForText(id: string, ok: (t: string) => boolean, what: string) {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const t = await page
        .getByTestId(id)
        .first()
        .textContent()
        .catch(() => null);
      if (t !== null && ok(t)) return t;
      if (Date.now() > deadline) assert.fail(`${what}: ${id} shows ${JSON.stringify(t)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  before(async () => {
    buildDashboard();
    [server, browser] = await Promise.all([startConclave(), launchChromium()]);
    client = createConclaveClient(createGrpcTransport({ baseUrl: server.url }));
    page = await browser.context.newPage();
    await page.goto(`${server.url}/`);
    await waitForPage(page, "connected", (s) => s.status === "connected", { timeoutMs: 10_000 });
  });

  after(async () => {
    client?.close();
    await browser?.close();
    await server?.stop();
  });

  test("version, member and leader are etcdctl's", async () => {
    const status = parseJson<Array<{ Status: { version: string; leader: string } }>>(
      ctl("endpoint", "status", "-w", "json"),
    )[0]?.Status;
    const members = parseJson<{ members: Array<{ ID: string }> }>(
      ctl("member", "list", "-w", "json"),
    );
    assert.ok(status);
    await waitForText("cluster-version", (t) => t === status.version, "version");
    assert.equal(await text("cluster-leader"), BigInt(status.leader).toString(16));
    assert.equal(await page.getByTestId("member").count(), members.members.length);
    assert.match(
      await text("member"),
      new RegExp(BigInt(members.members[0]?.ID ?? "0").toString(16)),
    );
    // etcd's default quota (--quota-backend-bytes 0), read from /metrics.
    await waitForText("quota-bytes", (t) => t === "2 GiB", "the default quota");
    assert.equal(await text("quota-alarm"), "no NOSPACE alarm");
  });

  test("requests/s by method: a burst of Puts shows as a Put line with a rate", async () => {
    const until = Date.now() + 3_000;
    let n = 0;
    while (Date.now() < until) {
      await Promise.all(Array.from({ length: 20 }, () => client.put(`burst/${n++}`, "x")));
    }
    await page
      .locator('[data-testid="chart-requests"] path[data-line="Put"]')
      .waitFor({ timeout: 10_000 });
    const rate = await waitForText(
      "chart-requests-value",
      (t) => Number.parseFloat(t) > 10,
      "a rate above 10/s",
    );
    console.log(`${n} puts in 3 s; the chart shows ${rate}`);
    // The commit latency chart has a value once something was committed.
    await waitForText("chart-commit-value", (t) => / ms$/.test(t), "commit latency");
  });

  test("the leases chart and the compacted revision follow etcdctl", async () => {
    for (let i = 0; i < 3; i++) ctl("lease", "grant", "120");
    const listed = ctl("lease", "list").match(/^[0-9a-f]+$/gm)?.length ?? 0;
    assert.equal(listed, 3);
    await waitForText("chart-leases-value", (t) => t === String(listed), "3 leases");
    const rev = parseJson<{ header: { revision: string } }>(ctl("put", "c", "1", "-w", "json"))
      .header.revision;
    ctl("compaction", rev);
    await waitForText("metrics-compact-revision", (t) => t === rev, `compacted at ${rev}`);
  });
});

describe("dashboard: DB size against the backend quota, and the NOSPACE alarm", () => {
  /** etcd's own alarm test's quota: 13 pages. */
  const quota = 13 * 4096;
  let server: RunningServer;
  let browser: LaunchedBrowser;
  let page: Page;

  const ctl = (...args: string[]) => etcdctl(server.endpoint, args);
  const dbSize = () =>
    Number(
      parseJson<Array<{ Status: { dbSize: number } }>>(
        ctl("endpoint", "status", "-w", "json").stdout,
      )[0]?.Status.dbSize,
    );
  /** Waits until the quota box shows what `ok` wants; returns its data and text. */
  async function waitForQuota(
    what: string,
    ok: (q: { percent: number; alarm: string; full: boolean; text: string }) => boolean,
  ) {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const q = await page.evaluate(`(() => {
        const box = document.querySelector('[data-testid="quota"]');
        return box && {
          percent: Number(box.querySelector('[data-testid="quota-percent"]')?.dataset.percent ?? NaN),
          alarm: box.dataset.alarm ?? "",
          full: box.querySelector('[data-testid="quota-bar"]')?.classList.contains("full") ?? false,
          text: box.textContent ?? "",
        };
      })()`);
      const shown = q as { percent: number; alarm: string; full: boolean; text: string } | null;
      if (shown !== null && ok(shown)) return shown;
      if (Date.now() > deadline) assert.fail(`${what}: the quota box shows ${JSON.stringify(q)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  before(async () => {
    buildDashboard();
    [server, browser] = await Promise.all([
      startConclave({ args: ["--quota-backend-bytes", String(quota)] }),
      launchChromium(),
    ]);
    page = await browser.context.newPage();
    await page.goto(`${server.url}/`);
    await waitForPage(page, "connected", (s) => s.status === "connected", { timeoutMs: 10_000 });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test("the quota from /metrics, the DB's share of it as etcdctl's dbSize says, no alarm", async () => {
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, new RegExp(`^etcd_server_quota_backend_bytes ${quota}$`, "m"));
    const size = dbSize();
    const q = await waitForQuota(
      "the DB's share",
      (q) => Math.abs(q.percent - (size / quota) * 100) < 1e-6,
    );
    assert.equal(q.alarm, "");
    assert.match(q.text, /of the 52 KiB quota/);
    assert.match(q.text, /no NOSPACE alarm/);
  });

  test("filling the quota raises NOSPACE: the bar turns full and the alarm says writes are refused", async () => {
    const value = "b".repeat(4096);
    for (let puts = 0; ; puts++) {
      const r = ctl("put", "fill", value);
      if (r.code !== 0) {
        assert.match(r.stderr, /database space exceeded/);
        break;
      }
      if (puts > 200) assert.fail("the quota never filled");
    }
    const size = dbSize();
    const q = await waitForQuota(
      "NOSPACE",
      (q) => q.alarm === "NOSPACE" && Math.abs(q.percent - (size / quota) * 100) < 1e-6,
    );
    assert.equal(q.full, true, "the bar says full");
    assert.match(q.text, /NOSPACE alarm: writes are refused/);
    // The runbook — compact, defragment, disarm — clears it on the page too.
    const rev = parseJson<{ header: { revision: string } }>(ctl("get", "fill", "-w", "json").stdout)
      .header.revision;
    assert.equal(ctl("compaction", "--physical", rev).code, 0);
    assert.equal(ctl("defrag").code, 0);
    assert.equal(ctl("alarm", "disarm").code, 0);
    const defragged = dbSize();
    await waitForQuota(
      "disarmed",
      (q) => q.alarm === "" && Math.abs(q.percent - (defragged / quota) * 100) < 1e-6,
    );
  });
});
