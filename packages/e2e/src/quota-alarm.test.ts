// etcd's space quota runbook, with the real etcdctl, on Conclave and on a
// real etcd 3.4.23 side by side (etcd's own e2e TestCtlV3Alarm, step by
// step): fill the quota → NOSPACE alarm, writes refused, reads fine, /health
// false → compact, defrag (the file shrinks), disarm → writes again. The
// alarm survives a restart.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type RunningServer, startConclave, startEtcd } from "@conclave/testkit";
import { etcdctl } from "./etcdctl.js";

/** etcd's test: 13 pages ("the boltdb minimum working set is six pages"). */
const quota = 13 * 4096;
const noSpace = "etcdserver: mvcc: database space exceeded";

let conclave: RunningServer;
let etcd: RunningServer;

before(async () => {
  const args = ["--quota-backend-bytes", String(quota)];
  [conclave, etcd] = await Promise.all([startConclave({ args }), startEtcd({ args })]);
});
after(async () => {
  await Promise.all([conclave?.stop(), etcd?.stop()]);
});

interface Status {
  header: { revision: number };
  dbSize: number;
  errors?: string[];
}
const status = (ep: string): Status =>
  (JSON.parse(etcdctl(ep, ["endpoint", "status", "-w", "json"]).stdout) as { Status: Status }[])[0]
    ?.Status as Status;

/** Runs the runbook against one server; returns what an operator sees at each step. */
async function runbook(server: RunningServer) {
  const ep = server.endpoint;
  const seen: Record<string, unknown> = {};
  assert.equal(etcdctl(ep, ["put", "1st_test", "a".repeat(64)]).code, 0, "a small put fits");
  const page = "b".repeat(4096);
  let puts = 0;
  for (;;) {
    const r = etcdctl(ep, ["put", "2nd_test", page]);
    if (r.code !== 0) {
      seen.fullAfterError = r.stderr.includes(noSpace);
      break;
    }
    if (++puts > 200) assert.fail("the quota never filled");
  }
  // The ID is a 64-bit number: read it from the text, not through JSON.parse.
  const memberId = /"ID":(\d+)/.exec(etcdctl(ep, ["member", "list", "-w", "json"]).stdout)?.[1];
  assert.ok(memberId);
  seen.alarmList = etcdctl(ep, ["alarm", "list"]).stdout.replace(String(memberId), "<member>");
  const health = await fetch(`${server.url}/health`);
  seen.health = [health.status, health.headers.get("content-type"), await health.text()];
  const refused = etcdctl(ep, ["put", "3rd_test", "x"]);
  seen.putRefused = refused.code !== 0 && refused.stderr.includes(noSpace);
  seen.leaseRefused = etcdctl(ep, ["lease", "grant", "60"]).stderr.includes(noSpace);
  seen.readWorks = etcdctl(ep, ["get", "1st_test", "--print-value-only"]).stdout.trim().length;
  const full = status(ep);
  seen.statusErrors = (full.errors ?? []).map((e) => e.replace(String(memberId), "<member>"));
  assert.equal(etcdctl(ep, ["compaction", "--physical", String(full.header.revision)]).code, 0);
  assert.equal(etcdctl(ep, ["defrag"]).code, 0);
  const defragged = status(ep);
  seen.shrank = defragged.dbSize < full.dbSize;
  seen.stillAlarmed = etcdctl(ep, ["put", "3rd_test", "x"]).stderr.includes(noSpace);
  assert.equal(etcdctl(ep, ["alarm", "disarm"]).code, 0);
  seen.afterDisarm = etcdctl(ep, ["alarm", "list"]).stdout;
  seen.putAfterDisarm = etcdctl(ep, ["put", "4th_test", "a".repeat(64)]).code;
  return seen;
}

describe("space quota and the NOSPACE alarm, as etcd 3.4.23", () => {
  test("etcd's runbook: fill, alarm, compact + defrag + disarm, write again — same on both", async () => {
    const onEtcd = await runbook(etcd);
    const onConclave = await runbook(conclave);
    assert.deepEqual(onConclave, onEtcd);
    assert.deepEqual(onConclave.alarmList, "memberID:<member> alarm:NOSPACE \n");
    assert.deepEqual(onConclave.health, [503, "text/plain; charset=utf-8", '{"health":"false"}\n']);
    assert.equal(onConclave.shrank, true);
    assert.equal(onConclave.putAfterDisarm, 0);
  });

  test("a raised alarm survives a restart", async () => {
    const dataDir = conclave.dataDir;
    await conclave.stop();
    const args = ["--quota-backend-bytes", String(quota)];
    const first = await startConclave({ dataDir, args });
    try {
      assert.equal(
        etcdctl(first.endpoint, ["alarm", "list"]).stdout,
        "",
        "the runbook left no alarm",
      );
      const page = "c".repeat(4096);
      while (etcdctl(first.endpoint, ["put", "fill", page]).code === 0) {}
      assert.match(etcdctl(first.endpoint, ["alarm", "list"]).stdout, /alarm:NOSPACE/);
    } finally {
      await first.stop();
    }
    conclave = await startConclave({ dataDir, args });
    assert.match(etcdctl(conclave.endpoint, ["alarm", "list"]).stdout, /alarm:NOSPACE/);
    assert.match(etcdctl(conclave.endpoint, ["put", "k", "v"]).stderr, /database space exceeded/);
  });
});
