import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  AlarmRequest_AlarmAction,
  AlarmType,
  Auth,
  Election,
  IdentityService,
  IdentitySource,
  KV,
  LeaderElectionService,
  Lease,
  Lock,
  Maintenance,
  Permission_Type,
  Watch,
  type WatchResponse,
} from "@conclave/proto";
import { Code, createClient, createRouterTransport, type Interceptor } from "@connectrpc/connect";
import { errorInterceptor } from "./error-interceptor.js";
import { peerCommonNameKey } from "./peer-identity.js";
import { createRoutes } from "./routes.js";
import { closeServerContext, openServerContext, type ServerContext } from "./server-context.js";
import { expectError } from "./test-util.js";

const enc = new TextEncoder();
const b = (s: string) => enc.encode(s);

/** Stands in for the TLS listener: `x-test-cn` becomes the verified client-certificate CN. */
const fakeTls: Interceptor = (next) => async (req) => {
  const cn = req.header.get("x-test-cn");
  if (cn !== null) req.contextValues.set(peerCommonNameKey, cn);
  return next(req);
};

let ctx: ServerContext;
let transport: ReturnType<typeof createRouterTransport>;
const clients = () => ({
  auth: createClient(Auth, transport),
  kv: createClient(KV, transport),
  lease: createClient(Lease, transport),
  lock: createClient(Lock, transport),
  election: createClient(Election, transport),
  maintenance: createClient(Maintenance, transport),
  le: createClient(LeaderElectionService, transport),
  watch: createClient(Watch, transport),
});
let c: ReturnType<typeof clients>;
let rootToken = "";
let aliceToken = "";
const as = (token: string) => ({ headers: { token } });

before(async () => {
  ctx = await openServerContext({ dataDir: ":memory:" });
  transport = createRouterTransport(createRoutes(ctx), {
    router: { interceptors: [errorInterceptor, fakeTls] },
  });
  c = clients();
});
after(async () => {
  await closeServerContext(ctx);
});

describe("etcdserverpb.Auth", () => {
  it("enable needs root with the root role; management works without auth", async () => {
    await expectError(
      c.auth.authEnable({}),
      Code.FailedPrecondition,
      "etcdserver: root user does not exist",
    );
    await c.auth.userAdd({ name: "root", password: "rootpw", options: {} });
    await expectError(
      c.auth.authEnable({}),
      Code.FailedPrecondition,
      "etcdserver: root user does not have root role",
    );
    await c.auth.roleAdd({ name: "root" });
    await c.auth.userGrantRole({ user: "root", role: "root" });
    await c.auth.userAdd({ name: "alice", password: "alicepw" });
    await c.auth.roleAdd({ name: "alice" });
    await c.auth.roleGrantPermission({
      name: "alice",
      perm: { permType: Permission_Type.READWRITE, key: b("foo/"), rangeEnd: b("foo0") },
    });
    await c.auth.roleGrantPermission({
      name: "alice",
      perm: { permType: Permission_Type.READ, key: b("ro"), rangeEnd: b("") },
    });
    await c.auth.userGrantRole({ user: "alice", role: "alice" });
    await expectError(
      c.auth.authenticate({ name: "root", password: "rootpw" }),
      Code.FailedPrecondition,
      "etcdserver: authentication is not enabled",
    );
    const before = await c.auth.authStatus({});
    assert.equal(before.enabled, false);
    const enabled = await c.auth.authEnable({});
    assert.ok(enabled.header !== undefined && enabled.header.memberId === ctx.memberId);
    const status = await c.auth.authStatus({});
    assert.equal(status.enabled, true);
    assert.equal(status.authRevision, before.authRevision, "enabling does not bump the revision");
  });

  it("authenticate gives tokens; wrong passwords and unknown users fail alike", async () => {
    rootToken = (await c.auth.authenticate({ name: "root", password: "rootpw" })).token;
    aliceToken = (await c.auth.authenticate({ name: "alice", password: "alicepw" })).token;
    assert.match(aliceToken, /^[a-zA-Z]{16}\.\d+$/);
    for (const [name, password] of [
      ["alice", "wrong"],
      ["nobody", "x"],
    ]) {
      await expectError(
        c.auth.authenticate({ name, password }),
        Code.InvalidArgument,
        "etcdserver: authentication failed, invalid user ID or password",
      );
    }
  });

  it("management needs the root role; users read their own user and roles", async () => {
    await expectError(c.auth.userList({}), Code.InvalidArgument, "etcdserver: user name is empty");
    await expectError(
      c.auth.userList({}, as("bogus")),
      Code.Unauthenticated,
      "etcdserver: invalid auth token",
    );
    await expectError(
      c.auth.userList({}, as(aliceToken)),
      Code.PermissionDenied,
      "etcdserver: permission denied",
    );
    assert.deepEqual((await c.auth.userList({}, as(rootToken))).users, ["alice", "root"]);
    assert.deepEqual((await c.auth.userGet({ name: "alice" }, as(aliceToken))).roles, ["alice"]);
    assert.equal((await c.auth.roleGet({ role: "alice" }, as(aliceToken))).perm.length, 2);
    await expectError(
      c.auth.roleGet({ role: "root" }, as(aliceToken)),
      Code.PermissionDenied,
      "etcdserver: permission denied",
    );
    await expectError(
      c.auth.userAdd({ name: "alice", password: "x" }, as(rootToken)),
      Code.FailedPrecondition,
      "etcdserver: user name already exists",
    );
    await expectError(
      c.auth.userDelete({ name: "root" }, as(rootToken)),
      Code.InvalidArgument,
      "etcdserver: invalid auth management",
    );
    await expectError(
      c.auth.roleGrantPermission({ name: "alice" }, as(rootToken)),
      Code.InvalidArgument,
      "etcdserver: permission not given",
    );
  });

  it("KV: READ/WRITE per range, prev_kv needs READ, root bypasses, token by header or Bearer", async () => {
    const alice = as(aliceToken);
    await c.kv.put({ key: b("foo/x"), value: b("1") }, alice);
    await c.kv.range({ key: b("foo/"), rangeEnd: b("foo0") }, alice);
    await c.kv.put({ key: b("ro"), value: b("v") }, as(rootToken));
    await c.kv.range({ key: b("ro") }, alice);
    for (const call of [
      () => c.kv.put({ key: b("bar"), value: b("1") }, alice),
      () => c.kv.range({ key: b("bar") }, alice),
      () => c.kv.range({ key: b("foo/"), rangeEnd: b("\0") }, alice),
      () => c.kv.put({ key: b("ro"), value: b("1") }, alice),
      () => c.kv.deleteRange({ key: b("foo/"), rangeEnd: b("fop") }, alice),
    ]) {
      await expectError(call(), Code.PermissionDenied, "etcdserver: permission denied");
    }
    await expectError(
      c.kv.range({ key: b("foo/x") }),
      Code.InvalidArgument,
      "etcdserver: user name is empty",
    );
    await c.kv.range({ key: b("foo/x") }, { headers: { authorization: aliceToken } });
    await c.kv.range({ key: b("foo/x") }, { headers: { authorization: `Bearer ${aliceToken}` } });
    await c.kv.put({ key: b("anything"), value: b("v") }, as(rootToken));
  });

  it("Txn: every compare and op of every branch is checked", async () => {
    const alice = as(aliceToken);
    const put = (k: string) => ({
      request: { case: "requestPut" as const, value: { key: b(k), value: b("v") } },
    });
    await c.kv.txn(
      { compare: [{ key: b("foo/x"), target: 3, result: 0 }], success: [put("foo/a")] },
      alice,
    );
    for (const req of [
      { success: [put("foo/a")], failure: [put("bar")] },
      { compare: [{ key: b("bar"), target: 3, result: 0 }], success: [put("foo/a")] },
      {
        success: [{ request: { case: "requestTxn" as const, value: { failure: [put("bar")] } } }],
      },
    ]) {
      await expectError(
        c.kv.txn(req, alice),
        Code.PermissionDenied,
        "etcdserver: permission denied",
      );
    }
  });

  it("Watch: a denied create is answered created+canceled with etcd's reason", async () => {
    const responses: WatchResponse[] = [];
    const ac = new AbortController();
    async function* reqs() {
      for (const key of ["bar", "foo/"]) {
        yield {
          requestUnion: {
            case: "createRequest" as const,
            value: { key: b(key), rangeEnd: key === "foo/" ? b("foo0") : b("") },
          },
        };
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
    for await (const r of c.watch.watch(reqs(), { ...as(aliceToken), signal: ac.signal })) {
      responses.push(r);
      if (responses.length === 2) break;
    }
    ac.abort();
    assert.equal(responses[0]?.watchId, -1n);
    assert.equal(responses[0]?.created, true);
    assert.equal(responses[0]?.canceled, true);
    assert.equal(
      responses[0]?.cancelReason,
      "rpc error: code = PermissionDenied desc = etcdserver: permission denied",
    );
    assert.equal(responses[1]?.created, true);
    assert.equal(responses[1]?.canceled, false);
  });

  it("Lease: revoke needs WRITE on every attached key; a put may not join a lease with foreign keys", async () => {
    const { ID } = await c.lease.leaseGrant({ TTL: 60n }, as(aliceToken));
    await c.kv.put({ key: b("secret"), value: b("s"), lease: ID }, as(rootToken));
    await expectError(
      c.kv.put({ key: b("foo/l"), value: b("v"), lease: ID }, as(aliceToken)),
      Code.PermissionDenied,
      "etcdserver: permission denied",
    );
    await expectError(
      c.lease.leaseRevoke({ ID }, as(aliceToken)),
      Code.PermissionDenied,
      "etcdserver: permission denied",
    );
    await c.lease.leaseRevoke({ ID }, as(rootToken));
  });

  it("LeaseTimeToLive lists only the attached keys the caller may READ; root sees all", async () => {
    const { ID } = await c.lease.leaseGrant({ TTL: 60n }, as(rootToken));
    for (const k of ["foo/a", "ro", "secret/x", "zz"]) {
      await c.kv.put({ key: b(k), value: b("v"), lease: ID }, as(rootToken));
    }
    const cases: Array<{
      who: string;
      opts: { headers?: Record<string, string> };
      keys: string[];
    }> = [
      { who: "root", opts: as(rootToken), keys: ["foo/a", "ro", "secret/x", "zz"] },
      { who: "alice (READ on foo/ and ro)", opts: as(aliceToken), keys: ["foo/a", "ro"] },
      {
        who: "a certificate CN (alice)",
        opts: { headers: { "x-test-cn": "alice" } },
        keys: ["foo/a", "ro"],
      },
      { who: "anonymous", opts: {}, keys: [] },
    ];
    for (const { who, opts, keys } of cases) {
      const res = await c.lease.leaseTimeToLive({ ID, keys: true }, opts);
      assert.deepEqual(
        res.keys.map((k) => new TextDecoder().decode(k)).sort(),
        keys,
        `keys shown to ${who}`,
      );
      assert.equal(res.grantedTTL, 60n, `${who} still sees the lease itself`);
    }
    await expectError(
      c.lease.leaseTimeToLive({ ID, keys: true }, as("bogusbogusbogusx.1")),
      Code.Unauthenticated,
      "etcdserver: invalid auth token",
    );
    await c.lease.leaseRevoke({ ID }, as(rootToken));
  });

  it("Alarm: ACTIVATE needs the root role; GET and DEACTIVATE stay open, as in etcd 3.4", async () => {
    const alarm = { memberID: ctx.memberId, alarm: AlarmType.NOSPACE };
    const { GET, ACTIVATE, DEACTIVATE } = AlarmRequest_AlarmAction;
    const raised = [{ memberID: ctx.memberId, alarm: AlarmType.NOSPACE }];
    // [who, how, action, the alarms answered | the refusal]: root raises the
    // alarm, everyone may list it, anyone may disarm it (then none is left).
    const cases: Array<{
      who: string;
      opts: { headers?: Record<string, string> };
      action: AlarmRequest_AlarmAction;
      error?: [Code, string];
      alarms?: typeof raised;
    }> = [
      { who: "root", opts: as(rootToken), action: ACTIVATE, alarms: raised },
      {
        who: "alice",
        opts: as(aliceToken),
        action: ACTIVATE,
        error: [Code.PermissionDenied, "etcdserver: permission denied"],
      },
      {
        who: "anonymous",
        opts: {},
        action: ACTIVATE,
        error: [Code.InvalidArgument, "etcdserver: user name is empty"],
      },
      { who: "alice", opts: as(aliceToken), action: GET, alarms: raised },
      { who: "anonymous", opts: {}, action: GET, alarms: raised },
      { who: "alice", opts: as(aliceToken), action: DEACTIVATE, alarms: raised },
      { who: "anonymous", opts: {}, action: DEACTIVATE, alarms: [] },
      { who: "anonymous", opts: {}, action: GET, alarms: [] },
    ];
    for (const { who, opts, action, error, alarms } of cases) {
      const call = c.maintenance.alarm({ action, ...alarm }, opts);
      if (error === undefined) {
        const got = (await call).alarms.map((a) => ({ memberID: a.memberID, alarm: a.alarm }));
        assert.deepEqual(got, alarms, `${who} ${AlarmRequest_AlarmAction[action]}`);
      } else {
        await expectError(call, error[0], error[1]);
      }
    }
  });

  it("Lock/Election answer denials as plain errors (Unknown), Maintenance as auth's own text", async () => {
    const alice = as(aliceToken);
    await expectError(
      c.lock.lock({ name: b("bar") }, alice),
      Code.Unknown,
      "etcdserver: permission denied",
    );
    await expectError(
      c.lock.lock({ name: b("bar") }),
      Code.Unknown,
      "etcdserver: user name is empty",
    );
    const held = await c.lock.lock({ name: b("foo/lk") }, alice);
    await c.lock.unlock({ key: held.key }, alice);
    await expectError(
      c.election.leader({ name: b("bar") }, alice),
      Code.Unknown,
      "etcdserver: permission denied",
    );
    await expectError(
      c.election.leader({ name: b("foo/e") }, alice),
      Code.Unknown,
      "election: no leader",
    );
    await expectError(c.maintenance.defragment({}, alice), Code.Unknown, "auth: permission denied");
    await expectError(c.maintenance.hashKV({}), Code.Unknown, "auth: user name is empty");
    await c.maintenance.status({});
    await c.maintenance.defragment({}, as(rootToken));
    await expectError(
      c.le.enter({ election: "e1", candidateId: "a" }, alice),
      Code.PermissionDenied,
      "etcdserver: permission denied",
    );
  });

  it("a verified client-certificate CN names the user when no token is sent", async () => {
    await c.kv.put({ key: b("foo/cn"), value: b("v") }, { headers: { "x-test-cn": "alice" } });
    await expectError(
      c.kv.put({ key: b("bar"), value: b("v") }, { headers: { "x-test-cn": "alice" } }),
      Code.PermissionDenied,
      "etcdserver: permission denied",
    );
    // A token wins over the certificate.
    await c.kv.put(
      { key: b("bar"), value: b("v") },
      { headers: { "x-test-cn": "alice", token: rootToken } },
    );
  });

  it("IdentityService.WhoAmI names the user a request acts as, and what named it", async () => {
    const who = createClient(IdentityService, transport);
    const ask = async (headers: Record<string, string>) => {
      const r = await who.whoAmI({}, { headers });
      return [r.authEnabled, r.user, IdentitySource[r.source]];
    };
    assert.deepEqual(await ask({}), [true, "", "NONE"]);
    assert.deepEqual(await ask({ token: aliceToken }), [true, "alice", "TOKEN"]);
    assert.deepEqual(await ask({ "x-test-cn": "alice" }), [true, "alice", "CLIENT_CERTIFICATE"]);
    // A token wins over the certificate, as in every check.
    assert.deepEqual(await ask({ "x-test-cn": "alice", token: rootToken }), [
      true,
      "root",
      "TOKEN",
    ]);
    // A CN without a user is still who the request claims to be (every check refuses it).
    assert.deepEqual(await ask({ "x-test-cn": "ghost" }), [true, "ghost", "CLIENT_CERTIFICATE"]);
    await expectError(
      who.whoAmI({}, { headers: { token: "bogus" } }),
      Code.Unauthenticated,
      "etcdserver: invalid auth token",
    );
  });

  it("password change and user deletion revoke tokens; disable drops all", async () => {
    await c.auth.userChangePassword({ name: "alice", password: "new" }, as(rootToken));
    await expectError(
      c.kv.range({ key: b("foo/x") }, as(aliceToken)),
      Code.Unauthenticated,
      "etcdserver: invalid auth token",
    );
    const revBefore = (await c.auth.authStatus({}, as(rootToken))).authRevision;
    await c.auth.authDisable({}, as(rootToken));
    assert.equal((await c.auth.authStatus({})).authRevision, revBefore + 1n);
    // Tokens die with auth; a request without one is fine again.
    await expectError(
      c.kv.range({ key: b("bar") }, as(rootToken)),
      Code.Unauthenticated,
      "etcdserver: invalid auth token",
    );
    await c.kv.range({ key: b("bar") });
    // Auth off: requests act as nobody, certificate or not.
    const who = await createClient(IdentityService, transport).whoAmI(
      {},
      { headers: { "x-test-cn": "alice" } },
    );
    assert.deepEqual([who.authEnabled, who.user, who.source], [false, "", IdentitySource.NONE]);
  });
});
