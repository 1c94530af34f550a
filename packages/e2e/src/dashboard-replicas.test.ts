// The dashboard over replicas: two real `conclave --storage postgres://…`
// replicas over a real PostgreSQL, one Chromium page served by each. Changes
// made through either replica (an election through @conclave/client on one,
// etcdctl puts on the other) show on both pages: every replica serves the
// same live state.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { type ConclaveClient, createConclaveClient } from "@conclave/client";
import { type PostgresCluster, type RunningServer, startPostgres } from "@conclave/testkit";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { Page } from "playwright-core";
import {
  type LaunchedBrowser,
  launchChromium,
  read,
  type Shown,
  waitForPage,
} from "./dashboard-browser.js";
import { etcdctl } from "./etcdctl.js";
import { nth, startReplicas } from "./replicas.js";

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

describe("dashboard on every replica", () => {
  let pg: PostgresCluster;
  let replicas: RunningServer[] = [];
  let browser: LaunchedBrowser;
  let pages: Page[] = [];
  let client: ConclaveClient;
  const pageErrors: string[] = [];

  before(async () => {
    execFileSync("npm", ["run", "build", "-w", "@conclave/dashboard"], {
      cwd: repoRoot,
      stdio: "pipe",
    });
    pg = await startPostgres();
    [replicas, browser] = await Promise.all([
      pg.createDatabase().then((db) => startReplicas(2, db)),
      launchChromium(),
    ]);
    client = createConclaveClient(createGrpcTransport({ baseUrl: nth(replicas, 0).url }));
    pages = await Promise.all(replicas.map(() => browser.context.newPage()));
    for (const [i, page] of pages.entries()) {
      page.on("pageerror", (e) => pageErrors.push(String(e)));
      page.on("console", (m) => {
        if (m.type() === "error") pageErrors.push(m.text());
      });
      await page.goto(`${nth(replicas, i).url}/`);
      await waitForPage(page, "connected", (s) => s.status === "connected", { timeoutMs: 10_000 });
    }
  });

  after(async () => {
    client?.close();
    await browser?.close();
    await Promise.all(replicas.map((r) => r.kill()));
    await pg?.close();
  });

  test("an election on one replica and puts on the other show on both pages, the same", async () => {
    const le = client.leaderElection("rep-jobs");
    const a = await client.grantLease(30);
    const b = await client.grantLease(30);
    await le.enter("alpha", { lease: a });
    await le.enter("beta", { lease: b });
    const put = (value: string) => {
      const r = etcdctl(nth(replicas, 1).endpoint, ["put", "rep/key", value, "-w", "json"]);
      assert.equal(r.code, 0, r.stderr);
      return String(JSON.parse(r.stdout).header.revision);
    };
    put("v1");
    for (const page of pages) {
      await page.getByTestId("kb-prefix").fill("rep/");
      await page.getByTestId("kb-read").click();
    }
    const rev = put("v2");
    await a.revoke();
    const done = performance.now();
    for (const [i, page] of pages.entries()) {
      const ms = await waitForPage(
        page,
        `page on replica ${i}: beta leads term 2, rep/key = v2 at ${rev}`,
        (s) => {
          const e = s.elections["rep-jobs"];
          return (
            e?.leader === "beta" &&
            e.term === "2" &&
            e.candidates.join() === "beta" &&
            s.kvs["rep/key"]?.value === "v2" &&
            s.kvs["rep/key"]?.mod === rev
          );
        },
        { timeoutMs: 5_000, since: done },
      );
      console.log(`replica ${i}'s page showed the changes ${ms.toFixed(0)} ms after the revoke`);
    }
    const [one, two] = await Promise.all(pages.map(read));
    // The same election (the lease's countdown is each page's own clock).
    const election = (e: Shown["elections"][string] | undefined) =>
      e && { leader: e.leader, term: e.term, candidates: e.candidates, kind: e.kind };
    assert.deepEqual(election(one?.elections["rep-jobs"]), election(two?.elections["rep-jobs"]));
    assert.deepEqual(one?.kvs, two?.kvs);
    assert.deepEqual(pageErrors, []);
  });
});
