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
