// The leadership timeline in Debian's Chromium against the real conclave
// CLI: after a sequence of elections — entered, resigned, lease expired,
// evicted, anointed — the timeline built from MVCC history shows each term
// with its reason, and scrubbing to a past revision shows who led then. The
// revisions are cross-checked with etcdctl's view of the election's keys.
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

const election = "timeline-jobs";

describe("leadership timeline", () => {
  let server: RunningServer;
  let browser: LaunchedBrowser;
  let page: Page;
  let client: ConclaveClient;
  /** The revision of each change, as the server answered it. */
  const revs: Record<string, bigint> = {};
  /** Wall-clock bounds of each change: just before the call, just after its answer. */
  const when: Record<string, [number, number]> = {};

  before(async () => {
    buildDashboard();
    [server, browser] = await Promise.all([startConclave(), launchChromium()]);
    client = createConclaveClient(createGrpcTransport({ baseUrl: server.url }));
    const le = client.services.leaderElection;
    const lease = async (ttl: bigint) =>
      (await client.services.lease.leaseGrant({ TTL: ttl, ID: 0n })).ID;
    const keep = await lease(600n);
    const short = await lease(2n); // never kept alive: expires
    const rev = async (name: string, call: () => Promise<{ term?: { revision: bigint } }>) => {
      const start = Date.now();
      revs[name] = (await call()).term?.revision ?? 0n;
      when[name] = [start, Date.now()];
    };
    await rev("create", () => le.create({ election }));
    await rev("a", () => le.enter({ election, candidateId: "a", lease: keep }));
    await le.enter({ election, candidateId: "b", lease: short });
    await le.enter({ election, candidateId: "c", lease: keep });
    await rev("a resigns", () => le.withdraw({ election, candidateId: "a" }));
    // b's lease runs out: c leads.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const t = (await le.getTerm({ election })).term;
      if (t?.leader === "c") {
        revs["b expires"] = t.revision;
        break;
      }
      if (Date.now() > deadline) assert.fail(`b's lease did not expire: ${JSON.stringify(t)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await le.enter({ election, candidateId: "d", lease: keep });
    await rev("c evicted", () => le.evict({ election, candidateId: "c" }));
    await le.enter({ election, candidateId: "e", lease: keep });
    await rev("e anointed", () => le.anoint({ election, candidateId: "e" }));
    page = await browser.context.newPage();
    await page.goto(`${server.url}/`);
    await waitForPage(page, "connected", (s) => s.status === "connected", { timeoutMs: 10_000 });
  });

  after(async () => {
    client?.close();
    await browser?.close();
    await server?.stop();
  });

  test("each term shows with who led, its revisions and why it began and ended", async () => {
    await page.locator(`[data-election="${election}"] [data-testid="le-timeline"]`).click();
    await page.getByTestId("timeline-term").nth(4).waitFor({ timeout: 10_000 });
    const terms = await page
      .getByTestId("timeline-term")
      .evaluateAll((els) =>
        els.map((e) =>
          ["term", "leader", "from", "to", "started", "ended"].map((k) =>
            e.getAttribute(`data-${k}`),
          ),
        ),
      );
    const r = (k: string) => String(revs[k]);
    assert.deepEqual(terms, [
      ["1", "a", r("a"), r("a resigns"), "elected", "resigned"],
      ["2", "b", r("a resigns"), r("b expires"), "elected", "lease expired"],
      ["3", "c", r("b expires"), r("c evicted"), "elected", "evicted"],
      ["4", "d", r("c evicted"), r("e anointed"), "elected", "anointed"],
      ["5", "e", r("e anointed"), "", "anointed", ""],
    ]);
    // etcdctl agrees on the current term's start: the leader key moved at that revision.
    const leaderKey = parseJson<{ kvs: Array<{ mod_revision: string }> }>(
      etcdctl(server.endpoint, ["get", `__conclave/le/${election}/leader`, "-w", "json"]).stdout,
    );
    assert.equal(leaderKey.kvs[0]?.mod_revision, r("e anointed"));
  });

  test("each term's start and end carry the server's time of that change, labelled as the server's clock", async () => {
    const times = await page
      .getByTestId("timeline-term")
      .evaluateAll((els) =>
        els.map((e) => [
          e.getAttribute("data-from-at"),
          e.getAttribute("data-from-at-source"),
          e.getAttribute("data-to-at"),
          e.getAttribute("data-to-at-source"),
          e.querySelector('[data-testid="timeline-term-times"]')?.textContent ?? "",
        ]),
      );
    const within = (at: string | null | undefined, change: string) => {
      const [lo, hi] = when[change] ?? [0, 0];
      const ms = Number(at);
      assert.ok(lo <= ms && ms <= hi, `${change}: ${lo} <= ${ms} <= ${hi}`);
    };
    // The server recorded every change of this run: all times are the server's.
    for (const [from, fromSource, to, toSource, text] of times) {
      assert.equal(fromSource, "server", text);
      assert.ok(to === null || toSource === "server", text);
      assert.ok(to === null || Number(from) <= Number(to), text);
      assert.match(text, /^\d\d:\d\d:\d\d \(server clock\) → /);
    }
    within(times[0]?.[0], "a");
    within(times[0]?.[2], "a resigns");
    within(times[1]?.[0], "a resigns");
    within(times[2]?.[2], "c evicted");
    within(times[3]?.[0], "c evicted");
    within(times[3]?.[2], "e anointed");
    within(times[4]?.[0], "e anointed");
    // b's term ended when the expiry duty took b out: between "a resigns" and c's term.
    assert.equal(times[1]?.[2], times[2]?.[0], "b's end is c's start");
    assert.match(times[4]?.[4] ?? "", / → now \(.+ so far\)$/, "the current term runs on");
    // The election's card says since when its leader leads, by the same record.
    const since = page.locator(
      `[data-election="${election}"] [data-testid="election-leader-since"]`,
    );
    assert.equal(await since.getAttribute("data-source"), "server");
    assert.equal(await since.getAttribute("data-at"), times[4]?.[0]);
    assert.match((await since.textContent()) ?? "", /^\d\d:\d\d:\d\d \(server clock\)$/);
    assert.match(
      (await page.getByTestId("timeline").textContent()) ?? "",
      /by the server's clock where it recorded them/,
    );
  });

  test("locks: holders over time with the revisions each waited, as etcdctl's keys say", async () => {
    const first = await client.grantLease(60);
    const second = await client.grantLease(60);
    const lockStart = Date.now();
    const held = await client.lock("tl-lock", { lease: first });
    const waiting = client.lock("tl-lock", { lease: second });
    const hex2 = second.id.toString(16);
    const keys = () =>
      parseJson<{ kvs?: Array<{ key: string; create_revision: string }> }>(
        etcdctl(server.endpoint, ["get", "tl-lock/", "--prefix", "-w", "json"]).stdout,
      ).kvs ?? [];
    // Wait for the second key, then read both create revisions with etcdctl.
    for (let i = 0; keys().length < 2; i++) {
      if (i > 100) assert.fail("the waiter's key never appeared");
      await new Promise((r) => setTimeout(r, 50));
    }
    // etcdctl prints keys base64-encoded in JSON: match each holder by its lease hex.
    const createdBy = (lease: bigint) =>
      keys().find((k) =>
        Buffer.from(k.key, "base64")
          .toString()
          .endsWith(`/${lease.toString(16)}`),
      )?.create_revision;
    const c1 = createdBy(first.id);
    const c2 = createdBy(second.id);
    const unlockCalled = Date.now();
    await held.unlock();
    const handed = await waiting;
    const unlockedAt = String((await client.range("tl-lock/", { prefix: true })).revision);
    await waitForPage(page, "second holds", (s) => s.locks["tl-lock"]?.holder === hex2, {
      timeoutMs: 5_000,
    });
    await page.locator('[data-lock="tl-lock"] [data-testid="lock-history"]').click();
    await page.getByTestId("lock-hold").nth(1).waitFor({ timeout: 5_000 });
    const holds = await page
      .getByTestId("lock-hold")
      .evaluateAll((els) =>
        els.map((e) => ["holder", "from", "to", "waited"].map((k) => e.getAttribute(`data-${k}`))),
      );
    assert.deepEqual(holds, [
      [first.id.toString(16), c1, unlockedAt, "0"],
      [hex2, unlockedAt, "", String(Number(unlockedAt) - Number(c2))],
    ]);
    // v3lock records no times: the page saw these revisions live, and says so.
    const seen = await page
      .getByTestId("lock-hold")
      .evaluateAll((els) =>
        els.map((e) => [
          Number(e.getAttribute("data-from-at")),
          Number(e.getAttribute("data-to-at")),
          Number(e.getAttribute("data-waited-ms")),
          e.querySelector('[data-testid="lock-hold-times"]')?.textContent ?? "",
        ]),
      );
    const [h1, h2] = seen;
    assert.ok(h1 && h2);
    assert.ok(h1[0] >= lockStart && h1[1] >= h1[0] && h1[1] === h2[0], JSON.stringify(seen));
    assert.ok(h2[0] >= unlockCalled && h2[0] <= Date.now(), JSON.stringify(seen));
    // The waiter queued after the lock was taken and got it at the hand-over.
    assert.ok(h2[2] >= 0 && h2[2] <= h2[0] - lockStart, JSON.stringify(seen));
    assert.match(String(h2[3]), /\(seen by this page\)$/);
    await handed.unlock();
  });

  test("scrubbing to a past revision shows who led then", async () => {
    const scrub = page.getByTestId("timeline-scrub");
    const at = page.getByTestId("timeline-at");
    for (const [k, who] of [
      ["a", "a led (term 1)"],
      ["a resigns", "b led (term 2)"],
      ["b expires", "c led (term 3)"],
      ["create", "nobody led"],
    ] as const) {
      await scrub.fill(String(revs[k]));
      assert.equal(await at.textContent(), `at revision ${revs[k]}: ${who}`);
    }
  });
});
