// The methods that need no permission, over the real wire with auth on:
// a bogus token is refused on each of them (gRPC and etcd's JSON gateway),
// LeaseTimeToLive shows only the key names the caller may read (gRPC,
// Connect JSON, both gateway paths), Alarm ACTIVATE needs root while
// `etcdctl alarm disarm` / `alarm list` work for a user without roles as on
// etcd 3.4.23, and a browser on another origin may send its token (CORS).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  AlarmRequest_AlarmAction,
  AlarmType,
  Auth,
  Cluster,
  KV,
  Lease,
  Maintenance,
  Permission_Type,
  Watch,
  type WatchRequest,
} from "@conclave/proto";
import { type RunningServer, startConclave, startEtcd } from "@conclave/testkit";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { bytes, expectConnectError, text } from "./clients.js";
import { etcdctl } from "./etcdctl.js";

const bogus = "bogusbogusbogusb.1";
const invalidToken = "etcdserver: invalid auth token";
const b64 = (s: string) => Buffer.from(s).toString("base64");

let server: RunningServer;
let rootToken = "";
let aliceToken = "";
let lease = 0n;

const grpc = () => {
  const t = createGrpcTransport({ baseUrl: server.url });
  return {
    kv: createClient(KV, t),
    lease: createClient(Lease, t),
    maintenance: createClient(Maintenance, t),
    cluster: createClient(Cluster, t),
    watch: createClient(Watch, t),
  };
};
const as = (token: string | undefined) => ({
  headers: token === undefined ? {} : { token },
  timeoutMs: 10_000,
});

/** POSTs a gateway or Connect JSON request; the HTTP status and the JSON body. */
async function postJson(path: string, body: unknown, token?: string) {
  const res = await fetch(`${server.url}${path}`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(token === undefined ? {} : { authorization: token }),
    },
    body: JSON.stringify(body),
  });
  // biome-ignore lint/suspicious/noExplicitAny: JSON of several shapes
  return { status: res.status, json: (await res.json()) as any };
}

before(async () => {
  server = await startConclave();
  const auth = createClient(Auth, createGrpcTransport({ baseUrl: server.url }));
  await auth.userAdd({ name: "root", password: "rootpw", options: {} });
  await auth.userGrantRole({ user: "root", role: "root" });
  await auth.userAdd({ name: "alice", password: "alicepw", options: {} });
  await auth.roleAdd({ name: "app" });
  await auth.roleGrantPermission({
    name: "app",
    perm: { permType: Permission_Type.READWRITE, key: bytes("app/"), rangeEnd: bytes("app0") },
  });
  await auth.userGrantRole({ user: "alice", role: "app" });
  await auth.authEnable({});
  rootToken = (await auth.authenticate({ name: "root", password: "rootpw" })).token;
  aliceToken = (await auth.authenticate({ name: "alice", password: "alicepw" })).token;
  const c = grpc();
  lease = (await c.lease.leaseGrant({ TTL: 600n }, as(rootToken))).ID;
  for (const k of ["app/a", "secret"]) {
    await c.kv.put({ key: bytes(k), value: bytes("v"), lease }, as(rootToken));
  }
});
after(async () => {
  assert.equal(await server.stop(), 0, server.output());
});

describe("LeaseTimeToLive lists only the keys the caller may read", () => {
  const cases: Array<{ who: string; token: () => string | undefined; keys: string[] }> = [
    { who: "root", token: () => rootToken, keys: ["app/a", "secret"] },
    { who: "alice (READWRITE on app/)", token: () => aliceToken, keys: ["app/a"] },
    { who: "anonymous", token: () => undefined, keys: [] },
  ];
  for (const { who, token, keys } of cases) {
    test(`${who}: gRPC, Connect JSON and both gateway paths`, async () => {
      const viaGrpc = await grpc().lease.leaseTimeToLive({ ID: lease, keys: true }, as(token()));
      assert.deepEqual(viaGrpc.keys.map(text).sort(), keys, "gRPC");
      const connect = await postJson(
        "/etcdserverpb.Lease/LeaseTimeToLive",
        { ID: lease.toString(), keys: true },
        token(),
      );
      assert.equal(connect.status, 200);
      assert.deepEqual((connect.json.keys ?? []).map((k: string) => atob(k)).sort(), keys);
      for (const path of ["/v3/lease/timetolive", "/v3/kv/lease/timetolive"]) {
        const gw = await postJson(path, { ID: lease.toString(), keys: true }, token());
        assert.equal(gw.status, 200, path);
        assert.deepEqual((gw.json.keys ?? []).map((k: string) => atob(k)).sort(), keys, path);
        assert.equal(gw.json.grantedTTL, "600", `${path}: the lease itself is shown`);
      }
    });
  }
});

describe("a bogus token is refused by the methods that need no permission", () => {
  const c = () => grpc();
  const unary: Array<[string, () => Promise<unknown>]> = [
    ["LeaseGrant", () => c().lease.leaseGrant({ TTL: 60n }, as(bogus))],
    ["LeaseTimeToLive", () => c().lease.leaseTimeToLive({ ID: lease, keys: true }, as(bogus))],
    ["LeaseLeases", () => c().lease.leaseLeases({}, as(bogus))],
    ["Status", () => c().maintenance.status({}, as(bogus))],
    ["Alarm GET", () => c().maintenance.alarm({}, as(bogus))],
    ["MemberList", () => c().cluster.memberList({}, as(bogus))],
    ["Compact", () => c().kv.compact({ revision: 1n }, as(bogus))],
    [
      "LeaseKeepAlive",
      async () => {
        const it = c().lease.leaseKeepAlive(
          (async function* () {
            yield { ID: lease };
          })(),
          as(bogus),
        );
        for await (const r of it) return r;
      },
    ],
  ];
  for (const [name, call] of unary) {
    test(`gRPC ${name}`, async () => {
      await expectConnectError(call(), Code.Unauthenticated, invalidToken);
    });
  }

  test("gRPC Watch: the create is answered created+canceled, as etcd 3.4.23 does", async () => {
    const abort = new AbortController();
    const it = c().watch.watch(
      (async function* (): AsyncGenerator<WatchRequest> {
        yield {
          requestUnion: { case: "createRequest", value: { key: bytes("app/a") } },
        } as WatchRequest;
        await new Promise((r) => setTimeout(r, 2_000));
      })(),
      { ...as(bogus), signal: abort.signal },
    );
    for await (const r of it) {
      assert.equal(r.created && r.canceled, true);
      assert.equal(
        r.cancelReason,
        "rpc error: code = Unauthenticated desc = etcdserver: invalid auth token",
      );
      abort.abort();
      break;
    }
  });

  const gateway: Array<[string, unknown]> = [
    ["/v3/lease/grant", { TTL: 60 }],
    ["/v3/lease/timetolive", { ID: "1", keys: true }],
    ["/v3/kv/lease/timetolive", { ID: "1", keys: true }],
    ["/v3/lease/leases", {}],
    ["/v3/kv/lease/leases", {}],
    ["/v3/maintenance/status", {}],
    ["/v3/maintenance/alarm", {}],
    ["/v3/cluster/member/list", {}],
    ["/v3/kv/compaction", { revision: 1 }],
  ];
  for (const [path, body] of gateway) {
    test(`gateway ${path}: 401, code 16`, async () => {
      const r = await postJson(path, body, bogus);
      assert.equal(r.status, 401);
      assert.deepEqual(r.json, { error: invalidToken, message: invalidToken, code: 16 });
    });
  }
});

describe("Alarm", () => {
  const nospace = { memberID: 0n, alarm: AlarmType.NOSPACE };
  test("ACTIVATE needs the root role", async () => {
    await expectConnectError(
      grpc().maintenance.alarm(
        { action: AlarmRequest_AlarmAction.ACTIVATE, ...nospace },
        as(aliceToken),
      ),
      Code.PermissionDenied,
      "etcdserver: permission denied",
    );
    await expectConnectError(
      grpc().maintenance.alarm(
        { action: AlarmRequest_AlarmAction.ACTIVATE, ...nospace },
        as(undefined),
      ),
      Code.InvalidArgument,
      "etcdserver: user name is empty",
    );
    const raised = await grpc().maintenance.alarm(
      { action: AlarmRequest_AlarmAction.ACTIVATE, ...nospace },
      as(rootToken),
    );
    assert.deepEqual(
      raised.alarms.map((a) => [a.memberID, a.alarm]),
      [[0n, AlarmType.NOSPACE]],
    );
    // Raised for real (writes are refused meanwhile): disarm it again.
    await grpc().maintenance.alarm(
      { action: AlarmRequest_AlarmAction.DEACTIVATE, ...nospace },
      as(rootToken),
    );
  });

  test("etcdctl alarm list / disarm as a user without the root role: as etcd 3.4.23", async () => {
    const etcd = await startEtcd();
    try {
      // The same users on etcd as on Conclave: root, and alice (no role there).
      for (const args of [
        ["user", "add", "root:rootpw"],
        ["user", "grant-role", "root", "root"],
        ["user", "add", "alice:alicepw"],
        ["auth", "enable"],
      ]) {
        assert.equal(etcdctl(etcd.endpoint, args).code, 0, args.join(" "));
      }
      for (const args of [
        ["--user", "alice:alicepw", "alarm", "list"],
        ["--user", "alice:alicepw", "alarm", "disarm"],
        ["alarm", "list"],
        ["alarm", "disarm"],
      ]) {
        const [e, c] = [etcdctl(etcd.endpoint, args), etcdctl(server.endpoint, args)];
        assert.deepEqual(c, e, args.join(" "));
        assert.equal(c.code, 0, args.join(" "));
      }
    } finally {
      await etcd.stop();
    }
  });
});

describe("CORS: a browser page on another origin may send its token", () => {
  for (const path of ["/etcdserverpb.KV/Range", "/v3/kv/range"]) {
    test(`preflight of ${path} allows Authorization and token; the call then works`, async () => {
      const origin = "https://dashboard.example";
      const pre = await fetch(`${server.url}${path}`, {
        method: "OPTIONS",
        headers: {
          origin,
          "access-control-request-method": "POST",
          "access-control-request-headers": "authorization,content-type,token",
        },
      });
      assert.equal(pre.status, 200);
      assert.equal(pre.headers.get("access-control-allow-origin"), "*");
      const allowed = (pre.headers.get("access-control-allow-headers") ?? "")
        .toLowerCase()
        .split(",")
        .map((h) => h.trim());
      for (const h of ["authorization", "token", "content-type"]) {
        assert.ok(allowed.includes(h), `${h} in ${allowed.join(",")}`);
      }
      const res = await fetch(`${server.url}${path}`, {
        method: "POST",
        headers: { origin, "content-type": "application/json", authorization: aliceToken },
        body: JSON.stringify({ key: b64("app/a") }),
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("access-control-allow-origin"), "*");
    });
  }
});
