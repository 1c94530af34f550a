// Real etcdctl 3.4 against the conclave CLI: every command here is one an
// operator types, and the assertions are on what etcdctl prints.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { type RunningServer, requireTool, startConclave } from "@conclave/testkit";
import { etcdctl, parseJson } from "./etcdctl.js";

/** Integers as decimal strings: etcdctl prints uint64 IDs that a double cannot hold. */
type Int = string;

interface KvJson {
  key: string;
  value?: string;
  create_revision: Int;
  mod_revision: Int;
  version: Int;
}

interface HeaderJson {
  cluster_id: Int;
  member_id: Int;
  revision?: Int;
  raft_term: Int;
}

interface RangeJson {
  header: HeaderJson;
  kvs?: KvJson[];
  count?: Int;
  more?: boolean;
}

const b64 = (s: string) => Buffer.from(s).toString("base64");
const unb64 = (s: string | undefined) => Buffer.from(s ?? "", "base64").toString();

/** etcdctl with both output streams kept on success (`endpoint health` prints to stderr). */
function etcdctlBoth(endpoint: string, args: string[]) {
  const r = spawnSync(requireTool("etcdctl"), [`--endpoints=${endpoint}`, ...args], {
    env: { ...process.env, ETCDCTL_API: "3" },
    timeout: 20_000,
  });
  return { stdout: r.stdout.toString(), stderr: r.stderr.toString(), code: r.status };
}

describe("etcdctl 3.4 against conclave", () => {
  let server: RunningServer;

  /** Runs etcdctl and asserts it succeeded; returns stdout. */
  function ok(args: string[], input?: string): string {
    const r = etcdctl(server.endpoint, args, input);
    assert.equal(r.code, 0, `etcdctl ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  }

  /** Runs etcdctl and asserts it failed; returns stderr. */
  function fails(args: string[]): string {
    const r = etcdctl(server.endpoint, args);
    assert.notEqual(r.code, 0, `etcdctl ${args.join(" ")} succeeded: ${r.stdout}`);
    return r.stderr;
  }

  function getJson(args: string[]): RangeJson {
    return parseJson<RangeJson>(ok(["get", ...args, "-w", "json"]));
  }

  /** The store's current revision, as etcdctl sees it in a response header. */
  function currentRev(): number {
    return Number(getJson(["current-revision-probe"]).header.revision);
  }

  /** `put -w json` and the revision it created. */
  function put(key: string, value: string): number {
    const out = parseJson<{ header: HeaderJson }>(ok(["put", key, value, "-w", "json"]));
    return Number(out.header.revision);
  }

  before(async () => {
    requireTool("etcdctl");
    server = await startConclave({ args: ["--name", "e2e-etcdctl"] });
  });

  after(async () => {
    const code = await server.stop();
    rmSync(server.dataDir, { recursive: true, force: true });
    assert.equal(code, 0, `conclave exited with ${code}:\n${server.output()}`);
  });

  test("put then get prints the key and value; -w json carries header, base64 kvs and count", () => {
    assert.equal(ok(["put", "single", "hello"]), "OK\n");
    const created = currentRev();
    const modified = put("single", "world");
    assert.equal(modified, created + 1, "each put bumps the revision by one");

    assert.equal(ok(["get", "single"]), "single\nworld\n");
    assert.equal(ok(["get", "single", "--print-value-only"]), "world\n");
    assert.equal(ok(["get", "no-such-key"]), "", "a missing key prints nothing");

    const r = getJson(["single"]);
    assert.equal(r.header.revision, String(modified));
    assert.equal(r.count, "1");
    assert.equal(r.more, undefined, "more is omitted when false");
    assert.deepEqual(r.kvs, [
      {
        key: b64("single"),
        value: b64("world"),
        create_revision: String(created),
        mod_revision: String(modified),
        version: "2",
      },
    ]);
  });

  test("get --prefix returns exactly the keys under the prefix, in key order", () => {
    // "pre0" is the prefix's range end and "pre" sorts before it: neither matches.
    for (const [k, v] of [
      ["pre/b", "2"],
      ["pre/a", "1"],
      ["pre0", "x"],
      ["pre", "y"],
      ["pre/c", "3"],
    ] as const) {
      ok(["put", k, v]);
    }
    assert.equal(ok(["get", "pre/", "--prefix"]), "pre/a\n1\npre/b\n2\npre/c\n3\n");
  });

  describe("get options", () => {
    // s/b, s/c, s/a are written in that order: modification order differs from key order.
    const revs: Record<string, number> = {};

    before(() => {
      revs["s/b"] = put("s/b", "banana");
      revs["s/c"] = put("s/c", "cherry");
      revs["s/a"] = put("s/a", "apple");
      // Keys sorting after everything else, for --from-key.
      for (const k of ["~from/a", "~from/b", "~from/c"]) put(k, k.toUpperCase());
    });

    const keysOf = (r: RangeJson) => (r.kvs ?? []).map((kv) => unb64(kv.key));

    test("--limit truncates kvs; count stays the full match count and more is set", () => {
      const r = getJson(["s/", "--prefix", "--limit", "2"]);
      assert.deepEqual(keysOf(r), ["s/a", "s/b"]);
      assert.equal(r.count, "3");
      assert.equal(r.more, true);
      assert.deepEqual(
        (r.kvs ?? []).map((kv) => unb64(kv.value)),
        ["apple", "banana"],
      );
    });

    const sorted = [
      { flags: ["--sort-by=MODIFY", "--order=DESCEND"], keys: ["s/a", "s/c", "s/b"] },
      { flags: ["--sort-by=MODIFY", "--order=ASCEND"], keys: ["s/b", "s/c", "s/a"] },
      { flags: ["--sort-by=CREATE"], keys: ["s/b", "s/c", "s/a"] },
      { flags: ["--sort-by=KEY", "--order=DESCEND"], keys: ["s/c", "s/b", "s/a"] },
      { flags: ["--sort-by=VALUE", "--order=DESCEND"], keys: ["s/c", "s/b", "s/a"] },
      { flags: ["--sort-by=MODIFY", "--order=DESCEND", "--limit=1"], keys: ["s/a"] },
    ];
    for (const { flags, keys } of sorted) {
      test(`get --prefix ${flags.join(" ")}`, () => {
        assert.deepEqual(keysOf(getJson(["s/", "--prefix", ...flags])), keys);
      });
    }

    test("--rev reads the store as it was at that revision", () => {
      const atC = getJson(["s/", "--prefix", `--rev=${revs["s/c"]}`]);
      assert.deepEqual(keysOf(atC), ["s/b", "s/c"]);
      assert.equal(atC.count, "2");
      // The header still carries the current revision, not the one read at.
      assert.ok(Number(atC.header.revision) >= (revs["s/a"] ?? 0));
      assert.equal(ok(["get", "s/a", `--rev=${revs["s/b"]}`]), "");
      assert.equal(ok(["get", "s/a", `--rev=${revs["s/a"]}`]), "s/a\napple\n");
    });

    test("--keys-only drops values in both simple and json output", () => {
      assert.equal(ok(["get", "s/", "--prefix", "--keys-only"]), "s/a\n\ns/b\n\ns/c\n\n");
      const r = getJson(["s/", "--prefix", "--keys-only"]);
      assert.equal(r.kvs?.length, 3);
      for (const kv of r.kvs ?? []) assert.equal(kv.value, undefined, `value of ${kv.key}`);
      assert.equal(r.kvs?.[0]?.mod_revision, String(revs["s/a"]));
    });

    test("--from-key returns every key >= the given one", () => {
      assert.equal(ok(["get", "~from/b", "--from-key"]), "~from/b\n~FROM/B\n~from/c\n~FROM/C\n");
      const r = getJson(["~from/b", "--from-key", "--keys-only"]);
      assert.deepEqual(keysOf(r), ["~from/b", "~from/c"]);
      assert.equal(r.count, "2");
    });

    // `get --count-only` arrived in etcdctl 3.5; 3.4.23 rejects the flag before
    // sending anything. count_only is covered over gRPC in connect.test.ts.
  });

  test("del removes one key and prints the count; deleting a missing key does not bump the revision", () => {
    ok(["put", "d1", "v"]);
    const rev0 = currentRev();
    assert.equal(ok(["del", "d1"]), "1\n");
    assert.equal(currentRev(), rev0 + 1);
    assert.equal(ok(["get", "d1"]), "");
    assert.equal(ok(["del", "d1"]), "0\n");
    assert.equal(currentRev(), rev0 + 1, "a delete of nothing is not a write");
  });

  test("del --prefix removes every key under the prefix in one revision", () => {
    for (const k of ["dp/1", "dp/2", "dp/3", "dq"]) ok(["put", k, "v"]);
    const rev0 = currentRev();
    const out = parseJson<{ header: HeaderJson; deleted: Int }>(
      ok(["del", "dp/", "--prefix", "-w", "json"]),
    );
    assert.equal(out.deleted, "3");
    assert.equal(out.header.revision, String(rev0 + 1));
    assert.equal(ok(["get", "dp/", "--prefix"]), "");
    assert.equal(ok(["get", "dq"]), "dq\nv\n", "dq is outside the prefix");
  });

  test("del --prev-kv prints the deleted pairs", () => {
    ok(["put", "dk", "old-value"]);
    assert.equal(ok(["del", "dk", "--prev-kv"]), "1\ndk\nold-value\n");
    assert.equal(ok(["get", "dk"]), "");
  });

  // etcdctl reads compares, a blank line, success ops, a blank line, failure
  // ops and a final blank line; without the last one it fails with "EOF"
  // before sending anything (real etcd behaves the same).
  const txns = [
    {
      name: "mod > 0 on an existing key runs success",
      setup: [["put", "tx/k", "v1"]],
      input: 'mod("tx/k") > "0"\n\nput tx/k v2\n\nput tx/k v3\n\n',
      succeeded: true,
      expect: { key: "tx/k", value: "v2" },
    },
    {
      name: "a value mismatch runs failure",
      setup: [["put", "tx/m", "v1"]],
      input: 'value("tx/m") = "nope"\n\nput tx/m yes\n\nput tx/m no\n\n',
      succeeded: false,
      expect: { key: "tx/m", value: "no" },
    },
    {
      name: "a VALUE compare on a missing key is false",
      setup: [],
      input: 'value("tx/missing") = ""\n\nput tx/v1 s\n\nput tx/v1 f\n\n',
      succeeded: false,
      expect: { key: "tx/v1", value: "f" },
    },
    {
      name: "create == 0 on a missing key is true (compared against zeros)",
      setup: [],
      input: 'create("tx/absent") = "0"\n\nput tx/absent created\n\nput tx/other x\n\n',
      succeeded: true,
      expect: { key: "tx/absent", value: "created" },
    },
    {
      name: "all compares must hold",
      setup: [
        ["put", "tx/a", "1"],
        ["put", "tx/b", "2"],
      ],
      input: 'value("tx/a") = "1"\nvalue("tx/b") = "3"\n\nput tx/r both\n\nput tx/r not-both\n\n',
      succeeded: false,
      expect: { key: "tx/r", value: "not-both" },
    },
  ];
  for (const t of txns) {
    test(`txn from stdin: ${t.name}`, () => {
      for (const args of t.setup) ok(args);
      const out = ok(["txn"], t.input);
      assert.equal(out, `${t.succeeded ? "SUCCESS" : "FAILURE"}\n\nOK\n`);
      assert.equal(ok(["get", t.expect.key, "--print-value-only"]), `${t.expect.value}\n`);
    });
  }

  test("txn -w json reports succeeded and one response per op", () => {
    ok(["put", "tj/k", "1"]);
    const rev0 = currentRev();
    const out = parseJson<{
      header: HeaderJson;
      succeeded?: boolean;
      responses: { Response: Record<string, { header?: HeaderJson; kvs?: KvJson[] }> }[];
    }>(ok(["txn", "-w", "json"], 'version("tj/k") = "1"\n\nput tj/k 2\nget tj/k\n\n\n'));
    assert.equal(out.succeeded, true);
    assert.equal(out.header.revision, String(rev0 + 1));
    assert.equal(out.responses.length, 2);
    assert.ok(out.responses[0]?.Response.ResponsePut, "first response is the put");
    const range = out.responses[1]?.Response.ResponseRange;
    assert.equal(unb64(range?.kvs?.[0]?.value), "2", "the get sees the put of the same txn");
    assert.equal(range?.kvs?.[0]?.version, "2");
  });

  test("compaction: older revisions fail, the compact revision itself is readable, --physical works", () => {
    const r1 = put("cmp", "v1");
    const r2 = put("cmp", "v2");
    const r3 = put("cmp", "v3");
    const r4 = put("cmp", "v4");

    assert.equal(ok(["compaction", String(r2)]), `compacted revision ${r2}\n`);
    assert.match(
      fails(["get", "cmp", `--rev=${r1}`]),
      /Error: etcdserver: mvcc: required revision has been compacted/,
    );
    assert.equal(ok(["get", "cmp", `--rev=${r2}`]), "cmp\nv2\n", "rev == compact rev is allowed");
    assert.equal(ok(["get", "cmp"]), "cmp\nv4\n");

    assert.equal(ok(["compaction", "--physical", String(r3)]), `compacted revision ${r3}\n`);
    assert.match(fails(["get", "cmp", `--rev=${r2}`]), /required revision has been compacted/);
    assert.equal(ok(["get", "cmp", `--rev=${r3}`]), "cmp\nv3\n");
    assert.equal(ok(["get", "cmp", `--rev=${r4}`]), "cmp\nv4\n");

    assert.match(
      fails(["compaction", String(r3)]),
      /required revision has been compacted/,
      "compacting at or below the compact revision again fails",
    );
    assert.match(
      fails(["compaction", String(currentRev() + 100)]),
      /required revision is a future revision/,
    );
  });

  test("get --rev of a future revision fails", () => {
    const stderr = fails(["get", "single", `--rev=${currentRev() + 1}`]);
    assert.match(stderr, /Error: etcdserver: mvcc: required revision is a future revision/);
  });

  test("endpoint status -w json: this member leads, raftIndex is the revision, version is set", () => {
    const rev = put("status-probe", "x");
    const out = parseJson<
      {
        Endpoint: string;
        Status: {
          header: HeaderJson;
          version: string;
          leader: Int;
          raftIndex: Int;
          raftTerm: Int;
          dbSize: Int;
        };
      }[]
    >(ok(["endpoint", "status", "-w", "json"]));
    assert.equal(out.length, 1);
    const s = out[0];
    assert.equal(s?.Endpoint, server.endpoint);
    assert.equal(s?.Status.leader, s?.Status.header.member_id);
    assert.notEqual(s?.Status.leader, "0");
    assert.equal(s?.Status.raftIndex, String(rev));
    assert.equal(s?.Status.header.revision, String(rev));
    assert.match(s?.Status.version ?? "", /^3\.\d+\.\d+$/);
    assert.ok(Number(s?.Status.dbSize) > 0, "dbSize is reported");
    assert.ok(Number(s?.Status.raftTerm) >= 1);

    // The simple format prints the member ID in hex next to the leader flag.
    const simple = ok(["endpoint", "status"]);
    const hex = BigInt(s?.Status.leader ?? "0").toString(16);
    assert.ok(simple.startsWith(`${server.endpoint}, ${hex}, `), simple);
  });

  test("endpoint health prints 'is healthy' and exits 0", () => {
    const r = etcdctlBoth(server.endpoint, ["endpoint", "health"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout + r.stderr,
      new RegExp(`^${server.endpoint} is healthy: successfully committed proposal`, "m"),
    );
  });

  test("member list -w json: one member, its ID and client URL", () => {
    const out = parseJson<{
      header: HeaderJson;
      members: { ID: Int; name: string; clientURLs: string[]; peerURLs?: string[] }[];
    }>(ok(["member", "list", "-w", "json"]));
    assert.equal(out.members.length, 1);
    const m = out.members[0];
    assert.equal(m?.ID, out.header.member_id);
    assert.equal(m?.name, "e2e-etcdctl");
    assert.ok(m?.clientURLs.includes(server.url), `clientURLs ${m?.clientURLs}`);

    const simple = ok(["member", "list"]);
    assert.match(
      simple,
      new RegExp(`^${BigInt(m?.ID ?? "0").toString(16)}, started, e2e-etcdctl, `),
    );
    assert.ok(simple.includes(server.url));
  });

  test("member list header has no revision, as etcd's Cluster service sends it", () => {
    // etcd's ClusterServer.header() fills cluster_id, member_id and raft_term
    // only (checked against etcd 3.4.23: `"header":{"cluster_id":…,"member_id":…,"raft_term":2}`).
    const out = parseJson<{ header: HeaderJson }>(ok(["member", "list", "-w", "json"]));
    assert.notEqual(out.header.member_id, "0");
    assert.equal(out.header.revision, undefined, "MemberList header carries no revision");
  });

  test("an unimplemented call fails cleanly and the server keeps serving", () => {
    // Membership changes stay Unimplemented by design: Conclave runs one member.
    // (Lease grant, the brief's example, is implemented since 25d4669.)
    const r = etcdctl(server.endpoint, [
      "member",
      "add",
      "other",
      "--peer-urls=http://127.0.0.1:1",
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /rpc error: code = Unimplemented desc = /);
    assert.match(r.stderr, /etcdserverpb\.Cluster\.MemberAdd is not implemented/);

    assert.equal(server.proc.exitCode, null, "the server is still running");
    assert.equal(ok(["put", "after-unimplemented", "fine"]), "OK\n");
    assert.equal(ok(["get", "after-unimplemented", "--print-value-only"]), "fine\n");
    const members = parseJson<{ members: unknown[] }>(ok(["member", "list", "-w", "json"]));
    assert.equal(members.members.length, 1, "the failed add changed nothing");
  });
});
