// The dashboard's quality bar in Debian's Chromium against the real conclave
// CLI: usable at 390 px (no page-wide sideways scroll, keys not wrapped a
// few characters a line) and at 1440 px, a dark/light toggle that wins over
// the OS, every control named for screen readers, the key browser reachable
// by keyboard, and no request to anything but the API server. Screenshots
// at 390 and 1440 px in both themes go to test-results/dashboard/ (gitignored).
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type ConclaveClient, createConclaveClient } from "@conclave/client";
import { type RunningServer, startConclave } from "@conclave/testkit";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { Page } from "playwright-core";
import {
  buildDashboard,
  type LaunchedBrowser,
  launchChromium,
  screenshotDir,
  waitForPage,
} from "./dashboard-browser.js";
import { etcdctl } from "./etcdctl.js";

const longKey = "dash/services/payments/primary-endpoint";

describe("dashboard quality: widths, themes, keyboard, labels, requests", () => {
  let server: RunningServer;
  let browser: LaunchedBrowser;
  let client: ConclaveClient;
  const foreign: string[] = [];

  before(async () => {
    buildDashboard();
    [server, browser] = await Promise.all([startConclave(), launchChromium()]);
    client = createConclaveClient(createGrpcTransport({ baseUrl: server.url }));
    const lease = await client.grantLease(120);
    await client.leaderElection("payments").enter("node-a", { lease });
    await client.lock("payments-migration", { lease });
    for (const [k, v] of [
      [longKey, "https://10.0.0.12:8443"],
      ["dash/services/payments/config", JSON.stringify({ retries: 3, mode: "safe" })],
      ["dash/services/search/primary-endpoint", "https://10.0.0.40:9200"],
    ] as const) {
      assert.equal(etcdctl(server.endpoint, ["put", k, v]).code, 0);
    }
  });

  after(async () => {
    client?.close();
    await browser?.close();
    await server?.stop();
  });

  async function open(width: number): Promise<Page> {
    const context = await browser.browser.newContext({
      viewport: { width, height: 900 },
      colorScheme: "light",
    });
    context.on("request", (r) => {
      if (new URL(r.url()).origin !== server.url) foreign.push(r.url());
    });
    const page = await context.newPage();
    await page.goto(`${server.url}/`);
    await waitForPage(page, "connected", (s) => s.status === "connected", { timeoutMs: 10_000 });
    await page.getByTestId("kb-prefix").fill("dash/services/payments/");
    await page.getByTestId("kb-read").click();
    await page.locator(`[data-testid="kv"][data-key="${longKey}"]`).waitFor({ timeout: 5_000 });
    return page;
  }

  const background = (page: Page) =>
    page.evaluate(`(() => {
      const [r, g, b] = getComputedStyle(document.documentElement).backgroundColor.match(/\\d+/g).map(Number);
      return r + g + b;
    })()`) as Promise<number>;

  for (const width of [390, 1440]) {
    test(`${width} px: no sideways page scroll, keys readable, both themes (screenshots)`, async () => {
      const page = await open(width);
      try {
        const overflow = (await page.evaluate(
          "document.documentElement.scrollWidth - window.innerWidth",
        )) as number;
        assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow} px`);
        // The key cell: how many characters fit on one of its lines.
        const perLine = (await page.evaluate(`(() => {
          const td = document.querySelector('[data-key="${longKey}"] [data-testid="kv-key"]');
          const lh = parseFloat(getComputedStyle(td).lineHeight) || 18;
          const lines = Math.max(1, Math.round((td.getBoundingClientRect().height - 8) / lh));
          return td.textContent.length / lines;
        })()`)) as number;
        assert.ok(
          perLine >= 12,
          `${width} px: the key wraps at ~${perLine.toFixed(1)} characters a line`,
        );

        const light = await background(page);
        await page.screenshot({
          path: join(screenshotDir(), `dashboard-${width}-light.png`),
          fullPage: true,
        });
        await page.getByTestId("theme-toggle").click();
        assert.equal(await page.evaluate("document.documentElement.dataset.theme"), "dark");
        const dark = await background(page);
        assert.ok(dark < light, `dark (${dark}) is darker than light (${light})`);
        await page.screenshot({
          path: join(screenshotDir(), `dashboard-${width}-dark.png`),
          fullPage: true,
        });
        // The choice wins over the OS (light here) after a reload too.
        await page.reload();
        await waitForPage(page, "connected", (s) => s.status === "connected", {
          timeoutMs: 10_000,
        });
        assert.equal(await background(page), dark);
        await page.getByTestId("theme-toggle").click();
        assert.equal(await background(page), light);
      } finally {
        await page.context().close();
      }
    });
  }

  test("every control has a name for screen readers", async () => {
    const page = await open(1440);
    try {
      const unnamed = (await page.evaluate(`(() => {
        const name = (el) => {
          if (el.getAttribute("aria-label")) return el.getAttribute("aria-label");
          if (el.labels && el.labels.length > 0) return el.labels[0].textContent.trim();
          if (el.tagName === "BUTTON") return el.textContent.trim();
          return "";
        };
        return [...document.querySelectorAll("input, select, textarea, button")]
          .filter((el) => el.offsetParent !== null && name(el) === "")
          .map((el) => el.outerHTML.slice(0, 120));
      })()`)) as string[];
      assert.deepEqual(unnamed, []);
      const sections = (await page.evaluate(
        `[...document.querySelectorAll("section.panel")].filter((s) => !s.getAttribute("aria-labelledby")).length`,
      )) as number;
      assert.equal(sections, 0, "every panel is labelled by its title");
    } finally {
      await page.context().close();
    }
  });

  test("the keyboard reaches a key and opens its history; focus survives live re-renders; Escape cancels a confirm", async () => {
    const page = await open(1440);
    try {
      let reached = false;
      for (let i = 0; i < 300 && !reached; i++) {
        await page.keyboard.press("Tab");
        reached = (await page.evaluate(
          `document.activeElement?.dataset?.key === "${longKey}"`,
        )) as boolean;
      }
      assert.ok(reached, "Tab reaches the key's row");
      await page.keyboard.press("Enter");
      await page.getByTestId("history-entry").first().waitFor({ timeout: 5_000 });
      // Panels re-rendered every second (the lease poll) keep the focus where it was.
      await page
        .locator('[data-election="payments"] [data-candidate="node-a"] [data-testid="le-promote"]')
        .focus();
      await new Promise((r) => setTimeout(r, 2_500));
      assert.equal(
        await page.evaluate(
          `document.activeElement?.getAttribute("data-testid") + "@" + document.activeElement?.closest("[data-candidate]")?.dataset.candidate`,
        ),
        "le-promote@node-a",
      );
      // An action opened by keyboard: Escape closes the dialog and sends nothing.
      await page.getByTestId("kb-delete").focus();
      await page.keyboard.press("Enter");
      await page.getByTestId("confirm").waitFor({ state: "visible", timeout: 5_000 });
      await page.keyboard.press("Escape");
      await page.getByTestId("confirm").waitFor({ state: "hidden", timeout: 5_000 });
      assert.notEqual(etcdctl(server.endpoint, ["get", longKey]).stdout.trim(), "", "not deleted");
    } finally {
      await page.context().close();
    }
  });

  test("nothing was requested from anywhere but the API server", () => {
    assert.deepEqual(foreign, []);
  });
});
