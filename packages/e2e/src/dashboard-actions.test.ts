// The dashboard's actions in Debian's Chromium against the real conclave
// CLI: each is confirmed in a dialog, sent through the public API, logged
// with its outcome, and checked here through the real etcdctl (never
// through the page itself).
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { AlarmType, type ConclaveClient, createConclaveClient } from "@conclave/client";
import { AlarmRequest_AlarmAction } from "@conclave/proto";
import { type RunningServer, requireTool, startConclave } from "@conclave/testkit";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { Page } from "playwright-core";
import {
  buildDashboard,
  type LaunchedBrowser,
  launchChromium,
  waitForPage,
} from "./dashboard-browser.js";
import { etcdctl, parseJson } from "./etcdctl.js";

describe("dashboard actions, checked through etcdctl", () => {
  let server: RunningServer;
  let browser: LaunchedBrowser;
  let page: Page;
  let client: ConclaveClient;
  const spawned: ChildProcess[] = [];
  const pageErrors: string[] = [];

  const ctl = (...args: string[]) => {
    const r = etcdctl(server.endpoint, args);
    assert.equal(r.code, 0, `etcdctl ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  const value = (key: string) => ctl("get", key, "--print-value-only").trim();
  const logged = () => page.getByTestId("action-entry").first();

  /** The number of the newest logged outcome (0: none yet). */
  const lastSeq = async () =>
    (await page.getByTestId("action-entry").count()) === 0
      ? 0
      : Number(await logged().getAttribute("data-seq"));
  /** Waits for an outcome newer than `seq`. */
  async function waitForOutcome(seq: number) {
    const deadline = Date.now() + 5_000;
    while ((await lastSeq()) <= seq) {
      if (Date.now() > deadline) {
        assert.fail(`no outcome logged: ${await page.getByTestId("action-log").textContent()}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  /** Clicks `target`, confirms the dialog, waits for the logged outcome and returns its text. */
  async function act(
    target: ReturnType<Page["getByTestId"]>,
    outcome: "ok" | "error" = "ok",
  ): Promise<string> {
    const seq = await lastSeq();
    await target.click();
    await page.getByTestId("confirm").waitFor({ state: "visible", timeout: 5_000 });
    await page.getByTestId("confirm-ok").click();
    await waitForOutcome(seq);
    const entry = logged();
    const text = (await entry.textContent()) ?? "";
    assert.equal(await entry.getAttribute("data-outcome"), outcome, text);
    return text;
  }
  async function putViaEditor(key: string, text: string, format: "text" | "json", lease = "") {
    await page.getByTestId("kb-edit-key").fill(key);
    await page.getByTestId("kb-edit-value").fill(text);
    await page.getByTestId("kb-edit-format").selectOption(format);
    await page.getByTestId("kb-edit-lease").fill(lease);
  }

  before(async () => {
    buildDashboard();
    [server, browser] = await Promise.all([startConclave(), launchChromium()]);
    client = createConclaveClient(createGrpcTransport({ baseUrl: server.url }));
    page = await browser.context.newPage();
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    await page.goto(`${server.url}/`);
    await waitForPage(page, "connected", (s) => s.status === "connected", { timeoutMs: 10_000 });
  });

  after(async () => {
    for (const p of spawned) if (p.exitCode === null) p.kill("SIGKILL");
    client?.close();
    await browser?.close();
    await server?.stop();
  });

  test("put: cancel sends nothing; text and JSON are put; invalid JSON is refused before sending", async () => {
    await putViaEditor("act/a", "hello", "text");
    await page.getByTestId("kb-put").click();
    await page.getByTestId("confirm-cancel").click();
    assert.equal(ctl("get", "act/a").trim(), "", "cancelled: not put");

    const text = await act(page.getByTestId("kb-put"));
    assert.match(text, /put at revision \d+/);
    assert.equal(value("act/a"), "hello");

    await putViaEditor("act/j", "{ not json", "json");
    const seq = await lastSeq();
    await page.getByTestId("kb-put").click();
    await waitForOutcome(seq);
    assert.equal(await logged().getAttribute("data-outcome"), "error");
    assert.match((await logged().textContent()) ?? "", /not valid JSON/);
    assert.equal(ctl("get", "act/j").trim(), "", "invalid JSON: not put");

    await putViaEditor("act/j", '{"n": 1}', "json");
    await act(page.getByTestId("kb-put"));
    assert.deepEqual(JSON.parse(value("act/j")), { n: 1 });
  });

  test("edit: choosing a key loads it into the editor; the edited value lands", async () => {
    await page.getByTestId("kb-prefix").fill("act/");
    await page.getByTestId("kb-read").click();
    await page.locator('[data-testid="kv"][data-key="act/j"]').click();
    assert.equal(await page.getByTestId("kb-edit-key").inputValue(), "act/j");
    assert.equal(await page.getByTestId("kb-edit-value").inputValue(), '{"n": 1}');
    assert.equal(await page.getByTestId("kb-edit-format").inputValue(), "json");
    await page.getByTestId("kb-edit-value").fill('{"n": 2}');
    await act(page.getByTestId("kb-put"));
    assert.deepEqual(JSON.parse(value("act/j")), { n: 2 });
    // The live key browser shows it as it lands.
    await waitForPage(page, "edited value shown", (s) => s.kvs["act/j"]?.value === '{"n": 2}', {
      timeoutMs: 2_000,
    });
  });

  test("leases: grant, attach a key, revoke (the key goes with it)", async () => {
    await page.getByTestId("lease-grant-ttl").fill("120");
    const text = await act(page.getByTestId("lease-grant-submit"));
    const hex = /lease ([0-9a-f]+) granted/.exec(text)?.[1];
    assert.ok(hex, text);
    const listed = parseJson<{ leases: Array<{ id: string }> }>(ctl("lease", "list", "-w", "json"));
    assert.ok(
      listed.leases.some((l) => BigInt(l.id).toString(16) === hex),
      `etcdctl lists ${hex}`,
    );

    await putViaEditor("act/leased", "on a lease", "text", hex);
    await act(page.getByTestId("kb-put"));
    const kv = parseJson<{ kvs: Array<{ lease: string }> }>(ctl("get", "act/leased", "-w", "json"));
    assert.equal(BigInt(kv.kvs[0]?.lease ?? "0").toString(16), hex, "attached to the lease");

    await waitForPage(page, "lease listed", (s) => s.leases.includes(hex), { timeoutMs: 3_000 });
    await act(
      page.locator(`[data-testid="lease"][data-lease="${hex}"] [data-testid="lease-revoke"]`),
    );
    assert.doesNotMatch(ctl("lease", "list"), new RegExp(hex));
    assert.equal(ctl("get", "act/leased").trim(), "", "its key was deleted");
  });

  test("delete: one key, then every key under a prefix", async () => {
    await putViaEditor("act/a", "", "text");
    await act(page.getByTestId("kb-delete"));
    assert.equal(ctl("get", "act/a").trim(), "");
    assert.notEqual(ctl("get", "act/", "--prefix", "--keys-only").trim(), "");
    await page.getByTestId("kb-prefix").fill("act/");
    const text = await act(page.getByTestId("kb-delete-prefix"));
    assert.match(text, /\d+ deleted/);
    assert.equal(ctl("get", "act/", "--prefix", "--keys-only").trim(), "");
  });

  test("v3election: resign the leader; the next candidate leads", async () => {
    const bin = requireTool("etcdctl");
    for (const proposal of ["p1", "p2"]) {
      const p = spawn(bin, [`--endpoints=${server.endpoint}`, "elect", "act-vote", proposal], {
        env: { ...process.env, ETCDCTL_API: "3" },
        stdio: "ignore",
      });
      spawned.push(p);
      await waitForPage(
        page,
        `${proposal} in line`,
        (s) => s.elections["act-vote"]?.candidates.some((c) => c.startsWith(proposal)) === true,
        { timeoutMs: 10_000 },
      );
    }
    await act(page.locator('[data-election="act-vote"] [data-testid="v3-resign"]'));
    // etcdctl: only p2's key is left under the election.
    const left = ctl("get", "act-vote/", "--prefix", "--print-value-only").trim();
    assert.equal(left, "p2");
  });

  test("LeaderElection: create, anoint, promote, demote, evict, withdraw, close", async () => {
    const stateOf = () => {
      const out = ctl("get", "__conclave/le/act-le/state", "--print-value-only").trim();
      return JSON.parse(out) as { candidates: Array<{ id: string }>; created: boolean };
    };
    const line = () =>
      stateOf()
        .candidates.map((c) => c.id)
        .join();
    await page.getByTestId("le-create-name").fill("act-le");
    await act(page.getByTestId("le-create-submit"));
    assert.equal(stateOf().created, true);

    const le = client.leaderElection("act-le");
    for (const id of ["a", "b", "c", "d"]) await le.enter(id);
    await waitForPage(
      page,
      "a b c d",
      (s) => s.elections["act-le"]?.candidates.join() === "a,b,c,d",
      {
        timeoutMs: 2_000,
      },
    );
    const button = (id: string, op: string) =>
      page.locator(`[data-election="act-le"] li[data-candidate="${id}"] [data-testid="le-${op}"]`);
    // The lease poll re-renders the view every second. A button replaced by
    // it between mouse down and up loses the click (this test's old flake,
    // and a user's): an unchanged button must stay the same element.
    await button("c", "anoint").evaluate((el) => {
      (el as { probe?: boolean }).probe = true;
    });
    await new Promise((r) => setTimeout(r, 2_500)); // at least two polls
    const kept = await button("c", "anoint").evaluate(
      (el) => (el as { probe?: boolean }).probe === true,
    );
    assert.ok(kept, "the anoint button is the same element after two lease polls");
    const step = async (id: string, op: string, expected: string) => {
      await act(button(id, op));
      assert.equal(line(), expected, `${op} ${id}`);
      await waitForPage(
        page,
        `${op} ${id} shown`,
        (s) => s.elections["act-le"]?.candidates.join() === expected,
        {
          timeoutMs: 2_000,
        },
      );
    };
    await step("c", "anoint", "c,a,b,d");
    await step("d", "promote", "c,a,d,b");
    await step("c", "demote", "a,c,d,b");
    await step("d", "evict", "a,c,b");
    await step("a", "withdraw", "c,b");
    await act(page.locator('[data-election="act-le"] [data-testid="le-close"]'));
    assert.deepEqual(stateOf().candidates, []);
    assert.equal(stateOf().created, false);
  });

  test("compact to a revision: etcdctl can no longer read before it", async () => {
    const rev = String(
      parseJson<{ header: { revision: string } }>(ctl("put", "act/c", "x", "-w", "json")).header
        .revision,
    );
    await page.getByTestId("compact-revision").fill(rev);
    await act(page.getByTestId("compact-submit"));
    const r = etcdctl(server.endpoint, ["get", "act/c", `--rev=${Number(rev) - 1}`]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /required revision has been compacted/);
  });

  test("disarm an alarm: etcdctl alarm list is empty again", async () => {
    await client.services.maintenance.alarm({
      action: AlarmRequest_AlarmAction.ACTIVATE,
      memberID: 0n,
      alarm: AlarmType.NOSPACE,
    });
    assert.match(ctl("alarm", "list"), /NOSPACE/);
    const button = page.locator(
      '[data-testid="alarm"][data-alarm="NOSPACE"] [data-testid="alarm-disarm"]',
    );
    await button.waitFor({ timeout: 5_000 });
    await act(button);
    assert.equal(ctl("alarm", "list").trim(), "");
  });

  test("users and roles: add, grant a permission and a role, delete", async () => {
    await page.getByTestId("access-user-name").fill("bob");
    await page.getByTestId("access-user-password").fill("bobpw");
    await act(page.getByTestId("access-add-user-submit"));
    await page.getByTestId("access-role-name").fill("ops");
    await act(page.getByTestId("access-add-role-submit"));
    await page.getByTestId("access-perm-role").fill("ops");
    await page.getByTestId("access-perm-key").fill("ops/");
    await page.getByTestId("access-perm-type").selectOption("READWRITE");
    await act(page.getByTestId("access-grant-perm-submit"));
    await page.getByTestId("access-grant-user").fill("bob");
    await page.getByTestId("access-grant-role").fill("ops");
    await act(page.getByTestId("access-user-role-submit"));

    assert.match(ctl("user", "get", "bob"), /Roles: ops/);
    const role = ctl("role", "get", "ops");
    assert.match(role, /\[ops\/, ops0\) \(prefix ops\/\)/, role);
    assert.match(role, /KV Read:/);

    await act(
      page.locator('[data-testid="user-row"][data-user="bob"] [data-testid="user-delete"]'),
    );
    assert.doesNotMatch(ctl("user", "list"), /bob/);
    await act(
      page.locator('[data-testid="role-row"][data-role="ops"] [data-testid="role-delete"]'),
    );
    assert.doesNotMatch(ctl("role", "list"), /ops/);
    assert.deepEqual(pageErrors, []);
  });
});
