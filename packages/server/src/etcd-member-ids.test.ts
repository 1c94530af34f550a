import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  defaultInitialAdvertisePeerUrls,
  defaultInitialClusterToken,
  etcdIdsOf,
} from "./etcd-member-ids.js";

// Expected IDs are what etcd 3.4.23 prints for these flags (`etcdctl member
// list -w json` / a response header), e.g. a default `etcd`.
const cases: {
  what: string;
  name: string;
  members: [string, string[]][];
  token: string;
  member: string;
  cluster: string;
}[] = [
  {
    what: "a default etcd",
    name: "default",
    members: [["default", defaultInitialAdvertisePeerUrls]],
    token: defaultInitialClusterToken,
    member: "8e9e05c52164694d",
    cluster: "cdf818194e3a8c32",
  },
  {
    what: "etcd's e2e configNoTLS (TestCtlV3GetFormat)",
    name: "test-0",
    members: [["test-0", ["http://localhost:20001"]]],
    token: "new",
    member: "ca50e9357181d758",
    cluster: "34f27e83b3bc2ff",
  },
];

describe("etcd's member and cluster IDs from the bootstrap flags", () => {
  for (const c of cases) {
    it(c.what, () => {
      const ids = etcdIdsOf({ name: c.name, members: new Map(c.members), token: c.token });
      assert.equal(ids.memberId.toString(16), c.member);
      assert.equal(ids.clusterId.toString(16), c.cluster);
    });
  }

  it("peer URL order does not matter; the token and the other members do", () => {
    const one = etcdIdsOf({
      name: "a",
      members: new Map([["a", ["http://x:1", "http://y:2"]]]),
      token: "t",
    });
    const swapped = etcdIdsOf({
      name: "a",
      members: new Map([["a", ["http://y:2", "http://x:1"]]]),
      token: "t",
    });
    assert.deepEqual(one, swapped);
    const otherToken = etcdIdsOf({
      name: "a",
      members: new Map([["a", ["http://x:1", "http://y:2"]]]),
      token: "u",
    });
    assert.notEqual(otherToken.memberId, one.memberId);
    const three = etcdIdsOf({
      name: "a",
      members: new Map([
        ["a", ["http://x:1", "http://y:2"]],
        ["b", ["http://b:1"]],
      ]),
      token: "t",
    });
    assert.equal(three.memberId, one.memberId);
    assert.notEqual(three.clusterId, one.clusterId);
  });

  it("a name missing from the initial cluster is etcd's error", () => {
    assert.throws(
      () => etcdIdsOf({ name: "z", members: new Map([["a", ["http://a:1"]]]), token: "t" }),
      /couldn't find local name "z" in the initial cluster/,
    );
  });
});
