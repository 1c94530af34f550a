// The dashboard with auth enabled, in Debian's Chromium against the real
// conclave CLI, with users made by the real etcdctl: the page asks for a
// login (not "user name is empty"), keeps the token out of storage, shows
// who is logged in and logs out; a user whose roles allow only app/ sees
// plain "permission denied" where a panel needs more, and the rest works.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type RunningServer, startConclave } from "@conclave/testkit";
import type { Page } from "playwright-core";
import {
  buildDashboard,
  type LaunchedBrowser,
  launchChromium,
  waitForPage,
} from "./dashboard-browser.js";
import { etcdctl } from "./etcdctl.js";

const root = ["--user", "root:rootpw"];

describe("dashboard with auth enabled", () => {
  let server: RunningServer;
  let browser: LaunchedBrowser;
  let page: Page;
  const pageErrors: string[] = [];

  const ctl = (args: string[]) => {
    const r = etcdctl(server.endpoint, args);
    assert.equal(r.code, 0, `etcdctl ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };

  const logIn = async (user: string, password: string) => {
    await page.getByTestId("login-user").fill(user);
    await page.getByTestId("login-password").fill(password);
    await page.getByTestId("login-submit").click();
  };

  before(async () => {
    buildDashboard();
    [server, browser] = await Promise.all([startConclave(), launchChromium()]);
    ctl(["user", "add", "root:rootpw"]);
    ctl(["auth", "enable"]);
    ctl([...root, "user", "add", "alice:alicepw"]);
    ctl([...root, "role", "add", "app"]);
    ctl([...root, "role", "grant-permission", "app", "readwrite", "--prefix", "app/"]);
    ctl([...root, "user", "grant-role", "alice", "app"]);
    ctl([...root, "put", "app/x", "from-root"]);
    ctl([...root, "put", "secret/y", "hidden"]);
    page = await browser.context.newPage();
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    await page.goto(`${server.url}/`);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test("the page asks for a login instead of failing with 'user name is empty'", async () => {
    await page.getByTestId("login-form").waitFor({ timeout: 10_000 });
    assert.equal(await page.getByTestId("kb-prefix").count(), 0, "no console before login");
    assert.doesNotMatch((await page.locator("body").textContent()) ?? "", /user name is empty/);
  });

  test("a wrong password is refused with etcd's message, and the form stays", async () => {
    await logIn("root", "wrong");
    await page
      .getByTestId("login-error")
      .filter({ hasText: "authentication failed" })
      .waitFor({ timeout: 5_000 });
    assert.equal(await page.getByTestId("login-form").count(), 1);
  });

  test("root logs in: the console is live, shows the user, and the token is in memory only", async () => {
    await logIn("root", "rootpw");
    await waitForPage(page, "connected", (s) => s.status === "connected", { timeoutMs: 10_000 });
    assert.equal(await page.getByTestId("user").textContent(), "root");
    ctl([...root, "put", "app/live", "yes"]);
    await waitForPage(page, "the put in the feed", (s) => s.feed[0]?.key === "app/live", {
      timeoutMs: 2_000,
    });
    const stored = await page.evaluate(
      "({ local: localStorage.length, session: sessionStorage.length, cookie: document.cookie })",
    );
    assert.deepEqual(stored, { local: 0, session: 0, cookie: "" });
  });

  test("log out returns to the login form and forgets the user", async () => {
    await page.getByTestId("logout").click();
    await page.getByTestId("login-form").waitFor({ timeout: 5_000 });
    assert.equal(await page.getByTestId("user").count(), 0);
  });

  test("a user limited to app/ sees app/ keys, and 'permission denied' where the roles refuse", async () => {
    await logIn("alice", "alicepw");
    await waitForPage(page, "connected", (s) => s.status === "connected", { timeoutMs: 10_000 });
    assert.equal(await page.getByTestId("user").textContent(), "alice");
    // Elections, locks and the feed need the whole keyspace: denied, said plainly.
    for (const id of ["elections", "locks", "events"]) {
      await page
        .getByTestId(`${id}-panel`)
        .getByTestId("denied")
        .filter({ hasText: "permission denied" })
        .waitFor({ timeout: 10_000 });
    }
    assert.match((await page.getByTestId("status-text").textContent()) ?? "", /limited/);
    // The key browser reads what the roles allow...
    await page.getByTestId("kb-prefix").fill("app/");
    await page.getByTestId("kb-read").click();
    await waitForPage(page, "app/x", (s) => s.kvs["app/x"]?.value === "from-root", {
      timeoutMs: 5_000,
    });
    // ...and says no for the rest, without breaking.
    await page.getByTestId("kb-prefix").fill("secret/");
    await page.getByTestId("kb-read").click();
    await page
      .getByTestId("kb-error")
      .filter({ hasText: "permission denied" })
      .waitFor({ timeout: 5_000 });
    const shown = (await page.locator("body").textContent()) ?? "";
    assert.doesNotMatch(shown, /hidden/, "secret/y's value never reaches the page");
    await page.getByTestId("kb-prefix").fill("app/");
    await page.getByTestId("kb-read").click();
    await waitForPage(page, "app/x again", (s) => s.kvs["app/x"]?.value === "from-root", {
      timeoutMs: 5_000,
    });
    assert.deepEqual(pageErrors, []);
  });
});
