// The dashboard over TLS with --client-cert-auth, in Debian's Chromium
// presenting a client certificate (Playwright's clientCertificates): as in
// etcd, a request without a token acts as the user the verified
// certificate's CN names, so the page works as that user without a
// password prompt, says who it is ("alice (client certificate)", learnt
// from conclave.v1 IdentityService.WhoAmI: a page cannot read its own
// certificate), and shows denied panels for a limited role. Users and roles
// are made by the real etcdctl with root's certificate.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { type RunningServer, requireTool, startConclave } from "@conclave/testkit";
import type { BrowserContext, Page } from "playwright-core";
import {
  buildDashboard,
  type LaunchedBrowser,
  launchChromium,
  waitForPage,
} from "./dashboard-browser.js";
import { createTestCerts, type TestCerts } from "./test-certs.js";

const certs: TestCerts = createTestCerts(["root", "alice", "ghost"]);

describe("dashboard with a client certificate (--client-cert-auth)", () => {
  let server: RunningServer;
  let browser: LaunchedBrowser;
  const contexts: BrowserContext[] = [];
  const pageErrors: string[] = [];

  /** etcdctl over TLS with `client`'s certificate (no --user: the CN is the user). */
  const ctl = (client: string, args: string[]) => {
    const files = certs.clients[client];
    assert.ok(files, client);
    const r = spawnSync(
      requireTool("etcdctl"),
      [
        `--endpoints=${server.url}`,
        `--cacert=${certs.ca.cert}`,
        `--cert=${files.cert}`,
        `--key=${files.key}`,
        ...args,
      ],
      { env: { ...process.env, ETCDCTL_API: "3" }, timeout: 20_000 },
    );
    assert.equal(r.status, 0, `${client}: etcdctl ${args.join(" ")}: ${r.stderr}`);
    return r.stdout.toString();
  };

  /** A page in a browser context that presents `client`'s certificate to the server. */
  async function pageAs(client: string): Promise<Page> {
    const files = certs.clients[client];
    assert.ok(files, client);
    const context = await browser.browser.newContext({
      viewport: { width: 1400, height: 1000 },
      // The server's certificate is signed by the test CA, which Chromium does not know.
      ignoreHTTPSErrors: true,
      clientCertificates: [
        { origin: new URL(server.url).origin, certPath: files.cert, keyPath: files.key },
      ],
    });
    contexts.push(context);
    const page = await context.newPage();
    page.on("pageerror", (e) => pageErrors.push(`${client}: ${e}`));
    await page.goto(`${server.url}/`);
    return page;
  }

  /** Puts `key` with the key editor, confirms, and returns the logged outcome's text. */
  async function putFromPage(page: Page, key: string, value: string, outcome: "ok" | "error") {
    const entries = page.getByTestId("action-entry");
    const before = await entries.count();
    await page.getByTestId("kb-edit-key").fill(key);
    await page.getByTestId("kb-edit-value").fill(value);
    await page.getByTestId("kb-put").click();
    await page.getByTestId("confirm-ok").click();
    const deadline = Date.now() + 5_000;
    while ((await entries.count()) === before) {
      if (Date.now() > deadline) assert.fail(`no outcome logged for the put of ${key}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const entry = entries.first();
    const text = (await entry.textContent()) ?? "";
    assert.equal(await entry.getAttribute("data-outcome"), outcome, text);
    return text;
  }

  const userShown = async (page: Page) =>
    `${await page.getByTestId("user").textContent()} ${await page.getByTestId("user-via").textContent()}`;

  const deniedPanels = async (page: Page) => {
    for (const id of ["elections", "locks", "events"]) {
      await page
        .getByTestId(`${id}-panel`)
        .getByTestId("denied")
        .filter({ hasText: "permission denied" })
        .waitFor({ timeout: 10_000 });
    }
  };

  before(async () => {
    buildDashboard();
    [server, browser] = await Promise.all([
      startConclave({
        scheme: "https",
        args: [
          "--cert-file",
          certs.server.cert,
          "--key-file",
          certs.server.key,
          "--client-cert-auth",
          "--trusted-ca-file",
          certs.ca.cert,
        ],
      }),
      launchChromium(),
    ]);
    ctl("root", ["user", "add", "root:rootpw"]);
    ctl("root", ["user", "add", "alice", "--no-password"]);
    ctl("root", ["role", "add", "app"]);
    ctl("root", ["role", "grant-permission", "app", "readwrite", "--prefix", "app/"]);
    ctl("root", ["user", "grant-role", "alice", "app"]);
    ctl("root", ["auth", "enable"]);
    ctl("root", ["put", "app/x", "from-root"]);
    ctl("root", ["put", "secret/y", "hidden"]);
  });

  after(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await server?.stop();
  });

  test("alice's certificate: no password prompt, 'alice (client certificate)', denied panels, app/ readable", async () => {
    const page = await pageAs("alice");
    await waitForPage(page, "connected", (s) => s.status === "connected", { timeoutMs: 10_000 });
    assert.equal(await page.getByTestId("login-form").count(), 0, "no login form");
    assert.equal(await userShown(page), "alice (client certificate)");
    await deniedPanels(page);
    assert.match((await page.getByTestId("status-text").textContent()) ?? "", /limited/);
    await page.getByTestId("kb-prefix").fill("app/");
    await page.getByTestId("kb-read").click();
    await waitForPage(page, "app/x", (s) => s.kvs["app/x"]?.value === "from-root", {
      timeoutMs: 5_000,
    });
    await page.getByTestId("kb-prefix").fill("secret/");
    await page.getByTestId("kb-read").click();
    await page
      .getByTestId("kb-error")
      .filter({ hasText: "permission denied" })
      .waitFor({ timeout: 5_000 });
    assert.doesNotMatch((await page.locator("body").textContent()) ?? "", /hidden/);
    // Users and roles are root's business.
    await page
      .getByTestId("access-panel")
      .getByText("permission denied")
      .first()
      .waitFor({ timeout: 10_000 });
    // Nothing was stored: there is no token at all.
    const stored = await page.evaluate(
      "({ local: localStorage.length, session: sessionStorage.length, cookie: document.cookie })",
    );
    assert.deepEqual(stored, { local: 0, session: 0, cookie: "" });

    // A write from the page acts as alice: allowed under app/ (checked with
    // etcdctl), refused elsewhere with etcd's answer.
    assert.match(await putFromPage(page, "app/from-page", "by-alice", "ok"), /put at revision/);
    assert.equal(ctl("root", ["get", "app/from-page", "--print-value-only"]).trim(), "by-alice");
    assert.match(await putFromPage(page, "secret/from-page", "nope", "error"), /permission denied/);
    assert.equal(ctl("root", ["get", "secret/from-page"]).trim(), "", "not written");

    // Logging in with a password wins over the certificate; logging out goes back to it.
    await page.getByTestId("logout").click();
    await page.getByTestId("login-form").waitFor({ timeout: 5_000 });
    assert.match((await page.getByTestId("login-certificate").textContent()) ?? "", /alice/);
    await page.getByTestId("login-user").fill("root");
    await page.getByTestId("login-password").fill("rootpw");
    await page.getByTestId("login-submit").click();
    await waitForPage(page, "root's console", (s) => s.status === "connected", {
      timeoutMs: 10_000,
    });
    await page.getByTestId("user-via").filter({ hasText: "password" }).waitFor({ timeout: 5_000 });
    assert.equal(await userShown(page), "root (password)");
    ctl("root", ["put", "secret/live", "seen-by-root"]);
    await waitForPage(page, "root sees the whole feed", (s) => s.feed[0]?.key === "secret/live", {
      timeoutMs: 5_000,
    });
    await page.getByTestId("logout").click();
    await page
      .getByTestId("user-via")
      .filter({ hasText: "client certificate" })
      .waitFor({ timeout: 5_000 });
    assert.equal(await userShown(page), "alice (client certificate)");
    await deniedPanels(page);
  });

  test("root's certificate: the whole console, users listed, no denial", async () => {
    const page = await pageAs("root");
    await waitForPage(page, "connected", (s) => s.status === "connected", { timeoutMs: 10_000 });
    assert.equal(await userShown(page), "root (client certificate)");
    await page.locator('[data-testid="user-row"][data-user="alice"]').waitFor({ timeout: 10_000 });
    ctl("root", ["put", "app/from-etcdctl", "1"]);
    await waitForPage(page, "the feed is live", (s) => s.feed[0]?.key === "app/from-etcdctl", {
      timeoutMs: 5_000,
    });
    assert.equal(await page.getByTestId("denied").count(), 0);
    assert.equal((await page.getByTestId("status-text").textContent()) ?? "", "live");
  });

  test("a certificate naming no user: that name, and denials (etcd's answer), not a broken page", async () => {
    const page = await pageAs("ghost");
    await waitForPage(page, "connected", (s) => s.status === "connected", { timeoutMs: 10_000 });
    assert.equal(await userShown(page), "ghost (client certificate)");
    await deniedPanels(page);
  });

  test("auth turned on while a page is open: it becomes the certificate's user, no login form", async () => {
    ctl("root", ["auth", "disable"]);
    try {
      const page = await pageAs("alice");
      await waitForPage(page, "connected", (s) => s.status === "connected", {
        timeoutMs: 10_000,
      });
      assert.equal(await page.getByTestId("user").count(), 0, "nobody is logged in with auth off");
      ctl("root", ["auth", "enable"]);
      ctl("root", ["put", "secret/after-enable", "1"]);
      await page
        .getByTestId("user-via")
        .filter({ hasText: "client certificate" })
        .waitFor({ timeout: 10_000 });
      assert.equal(await userShown(page), "alice (client certificate)");
      assert.equal(await page.getByTestId("login-form").count(), 0, "no login form");
      await deniedPanels(page);
    } finally {
      // Left as the other tests expect it, whatever happened.
      spawnSync(
        requireTool("etcdctl"),
        [
          `--endpoints=${server.url}`,
          `--cacert=${certs.ca.cert}`,
          `--cert=${certs.clients.root?.cert}`,
          `--key=${certs.clients.root?.key}`,
          "auth",
          "enable",
        ],
        { env: { ...process.env, ETCDCTL_API: "3" }, timeout: 20_000 },
      );
    }
  });

  test("the pages logged no errors", () => {
    assert.deepEqual(pageErrors, []);
  });
});
