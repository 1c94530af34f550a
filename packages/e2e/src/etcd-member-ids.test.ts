// A new data dir gets the member and cluster IDs etcd 3.4.23 derives from the
// same bootstrap flags (--name, --initial-cluster, --initial-advertise-peer-urls,
// --initial-cluster-token): compared with a real etcd through etcdctl, as
// operators' runbooks and etcd's e2e tests (TestCtlV3GetFormat) read them.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { type RunningServer, startConclave, startEtcd } from "@conclave/testkit";
import { etcdctl, parseJson } from "./etcdctl.js";

interface MemberListJson {
  header: { cluster_id: string; member_id: string };
  members: { ID: string; name: string; peerURLs?: string[] }[];
}

/** `member list -w json` with the 64-bit IDs kept exact (JSON numbers lose bits). */
function memberList(endpoint: string): { cluster: string; member: string; peer?: string } {
  const out = etcdctl(endpoint, ["member", "list", "-w", "json"]);
  assert.equal(out.code, 0, out.stderr);
  const j = parseJson<MemberListJson>(out.stdout);
  const m = j.members[0];
  assert.ok(m);
  assert.equal(m.ID, j.header.member_id);
  return {
    cluster: BigInt(j.header.cluster_id).toString(16),
    member: BigInt(m.ID).toString(16),
    ...(m.peerURLs?.[0] !== undefined && { peer: m.peerURLs[0] }),
  };
}

describe("member and cluster IDs as etcd derives them", () => {
  const servers: RunningServer[] = [];
  after(() => Promise.all(servers.map((s) => s.stop())));

  test("the same bootstrap flags give the same IDs as etcd 3.4.23", {
    timeout: 60_000,
  }, async () => {
    const etcd = await startEtcd({ args: ["--initial-cluster-token", "e2e-token"] });
    servers.push(etcd);
    const want = memberList(etcd.endpoint);
    assert.ok(want.peer, "etcd lists its peer URL");
    const conclave = await startConclave({
      args: [
        "--name",
        "ref",
        "--initial-cluster",
        `ref=${want.peer}`,
        "--initial-advertise-peer-urls",
        want.peer,
        "--initial-cluster-token",
        "e2e-token",
      ],
    });
    servers.push(conclave);
    const got = memberList(conclave.endpoint);
    assert.deepEqual(
      { cluster: got.cluster, member: got.member },
      { cluster: want.cluster, member: want.member },
    );
  });

  test("a default server is etcd's default member of etcd's default cluster", async () => {
    const conclave = await startConclave();
    servers.push(conclave);
    const got = memberList(conclave.endpoint);
    assert.deepEqual(
      { cluster: got.cluster, member: got.member },
      { cluster: "cdf818194e3a8c32", member: "8e9e05c52164694d" },
    );
  });
});
