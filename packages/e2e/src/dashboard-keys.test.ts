// The key browser with 100 000 keys, in Debian's Chromium against the real
// conclave CLI: the `/` tree, paging, substring search, values as text,
// JSON and hex, a key's history with the diff of a version, and deep links
// to a key, a revision and an election. Expectations are cross-checked
// with the real etcdctl.
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
  read,
  waitForPage,
} from "./dashboard-browser.js";
import { etcdctl, parseJson } from "./etcdctl.js";

/** 100 directories of 1 000 keys: big/d00/k0000 … big/d99/k0999. */
const dirs = 100;
const perDir = 1_000;
/** etcd's default --max-txn-ops. */
const opsPerTxn = 128;

const keyName = (i: number) =>
  `big/d${String(Math.floor(i / perDir)).padStart(2, "0")}/k${String(i % perDir).padStart(4, "0")}`;

describe("key browser with 100k keys", () => {
  let server: RunningServer;
  let browser: LaunchedBrowser;
  let page: Page;
  let client: ConclaveClient;

  const ctl = (...args: string[]) => {
    const r = etcdctl(server.endpoint, args);
    assert.equal(r.code, 0, `etcdctl ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  const pageInfo = async () => (await page.getByTestId("kb-page-info").textContent()) ?? "";

  before(async () => {
    buildDashboard();
    [server, browser] = await Promise.all([startConclave(), launchChromium()]);
    client = createConclaveClient(createGrpcTransport({ baseUrl: server.url }));
    // 100k keys in txns of 128 puts, 8 at a time: a few seconds, not 100k etcdctl runs.
    const started = performance.now();
    const total = dirs * perDir;
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < total) {
          const from = next;
          next = Math.min(total, next + opsPerTxn);
          const success = [];
          for (let i = from; i < next; i++)
            success.push({ put: { key: keyName(i), value: `v${i}` } });
          await client.txn({ success });
        }
      }),
    );
    console.log(`loaded ${total} keys in ${(performance.now() - started).toFixed(0)} ms`);
    page = await browser.context.newPage();
  });

  after(async () => {
    client?.close();
    await browser?.close();
    await server?.stop();
  });

  test("etcdctl counts the 100k keys loaded", () => {
    // etcdctl 3.4 has no --count-only: the Range's count comes with --limit=1.
    const r = parseJson<{ count: string }>(
      ctl("get", "big/", "--prefix", "--limit=1", "-w", "json"),
    );
    assert.equal(r.count, String(dirs * perDir));
  });

  test("the tree lists the 100 directories; pages of 200 walk the keys in order", async () => {
    await page.goto(`${server.url}/`);
    await waitForPage(page, "connected", (s) => s.status === "connected", { timeoutMs: 10_000 });
    await page.getByTestId("kb-prefix").fill("big/");
    await page.getByTestId("kb-read").click();
    await page.locator('[data-testid="kb-dir"][data-dir="big/d99/"]').waitFor({ timeout: 10_000 });
    assert.equal(await page.getByTestId("kb-dir").count(), dirs);
    await page.waitForFunction(
      `document.querySelector('[data-testid="kb-page-info"]')?.textContent === "keys 1–200 of 100000"`,
      undefined,
      { timeout: 10_000 },
    );
    for (let p = 2; p <= 4; p++) {
      const started = performance.now();
      await page.getByTestId("kb-next").click();
      const first = (p - 1) * 200 + 1;
      await page.waitForFunction(
        `document.querySelector('[data-testid="kb-page-info"]')?.textContent === "keys ${first}–${first + 199} of 100000"`,
        undefined,
        { timeout: 5_000 },
      );
      console.log(`page ${p}: ${(performance.now() - started).toFixed(0)} ms`);
    }
    const shown = await read(page);
    const keys = Object.keys(shown.kvs);
    assert.equal(keys.length, 200);
    assert.equal(keys[0], keyName(600));
    assert.equal(keys[199], keyName(799));
    assert.equal(shown.kvs[keyName(600)]?.value, "v600");
    await page.getByTestId("kb-prev").click();
    await page.waitForFunction(
      `document.querySelector('[data-testid="kb-page-info"]')?.textContent === "keys 401–600 of 100000"`,
      undefined,
      { timeout: 5_000 },
    );
    assert.equal(Object.keys((await read(page)).kvs)[0], keyName(400));

    // Into a directory: its 1 000 keys, with breadcrumbs back up.
    await page.locator('[data-testid="kb-dir"][data-dir="big/d57/"]').click();
    await page.waitForFunction(
      `document.querySelector('[data-testid="kb-page-info"]')?.textContent === "keys 1–200 of 1000"`,
      undefined,
      { timeout: 5_000 },
    );
    assert.equal(Object.keys((await read(page)).kvs)[0], "big/d57/k0000");
    await page.locator('[data-testid="kb-crumb"][data-path="big/"]').click();
    await page.waitForFunction(
      `document.querySelector('[data-testid="kb-page-info"]')?.textContent === "keys 1–200 of 100000"`,
      undefined,
      { timeout: 5_000 },
    );
    assert.ok((await pageInfo()).endsWith("of 100000"));
  });

  test("substring search finds the keys etcdctl finds", async () => {
    const expected = Array.from({ length: dirs }, (_, d) => keyName(d * perDir + 999));
    // (etcdctl's 100k-key listing would overflow a pipe buffer: check a sample.)
    assert.equal(ctl("get", expected[42] ?? "", "--print-value-only").trim(), "v42999");
    await page.getByTestId("kb-prefix").fill("big/");
    await page.getByTestId("kb-contains").fill("k0999");
    const started = performance.now();
    await page.getByTestId("kb-read").click();
    await waitForPage(page, "100 matches", (s) => Object.keys(s.kvs).length === dirs, {
      timeoutMs: 20_000,
    });
    console.log(`substring search over 100k keys: ${(performance.now() - started).toFixed(0)} ms`);
    assert.deepEqual(Object.keys((await read(page)).kvs), expected);
    await page.getByTestId("kb-contains").fill("");
  });

  test("a deep link to a key shows its value as JSON, text or hex, and the diff of a version", async () => {
    ctl("put", "cfg/app", JSON.stringify({ mode: "fast", n: 1 }));
    ctl("put", "cfg/app", JSON.stringify({ mode: "safe", n: 1 }));
    const linked = await browser.context.newPage();
    try {
      await linked.goto(`${server.url}/#key=${encodeURIComponent("cfg/app")}`);
      await waitForPage(linked, "history of cfg/app", (s) => s.history.length === 2, {
        timeoutMs: 10_000,
      });
      assert.equal(await linked.getByTestId("kb-prefix").inputValue(), "cfg/");
      const value = () => linked.getByTestId("kb-value").textContent();
      assert.equal(await value(), JSON.stringify({ mode: "safe", n: 1 }, null, 2), "pretty JSON");
      await linked.getByTestId("kb-value-view").selectOption("text");
      assert.equal(await value(), '{"mode":"safe","n":1}');
      await linked.getByTestId("kb-value-view").selectOption("hex");
      assert.match((await value()) ?? "", /^7b 22 6d 6f 64 65 22/);
      await linked.getByTestId("kb-value-view").selectOption("json");
      // Newest first: the diff of the second version against the first.
      await linked.getByTestId("history-diff").first().click();
      assert.deepEqual(await linked.getByTestId("diff-del").allTextContents(), [
        '-   "mode": "fast",\n',
      ]);
      assert.deepEqual(await linked.getByTestId("diff-add").allTextContents(), [
        '+   "mode": "safe",\n',
      ]);
    } finally {
      await linked.close();
    }
  });

  test("deep links to a revision and to an election", async () => {
    const rev1 = parseJson<{ header: { revision: string } }>(
      ctl("put", "cfg/rev", "old", "-w", "json"),
    ).header.revision;
    ctl("put", "cfg/rev", "new");
    await client.leaderElection("linked-le").create();
    const linked = await browser.context.newPage();
    try {
      await linked.goto(`${server.url}/#key=cfg/rev&rev=${rev1}`);
      await waitForPage(
        linked,
        "cfg/rev at the old revision",
        (s) => s.kvs["cfg/rev"]?.value === "old" && s.kbStatus.includes(`at revision ${rev1}`),
        { timeoutMs: 10_000 },
      );
      assert.equal(await linked.getByTestId("kb-revision").inputValue(), rev1);
      await linked.goto(`${server.url}/#election=linked-le`);
      await waitForPage(linked, "linked-le shown", (s) => s.elections["linked-le"] !== undefined, {
        timeoutMs: 10_000,
      });
      await linked.locator('[data-election="linked-le"].linked').waitFor({ timeout: 10_000 });
    } finally {
      await linked.close();
    }
  });
});
