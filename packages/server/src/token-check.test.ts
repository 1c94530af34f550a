// Every method of every service refuses a bogus token — also the ones that
// need no permission — whether auth is on or off, and never answers it as if
// the caller were anonymous. The table is built from the service
// descriptors, so a method added later without a token check fails here.

import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { create, type DescMessage, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { createJwtTokens } from "@conclave/core";
import {
  AlarmRequest_AlarmAction,
  Auth,
  Cluster,
  conclaveWatch,
  Election,
  KV,
  LeaderElectionService,
  Lease,
  LeaseService,
  Lock,
  Maintenance,
  Watch,
} from "@conclave/proto";
import { Code, ConnectError, createRouterTransport } from "@connectrpc/connect";
import { errorInterceptor } from "./error-interceptor.js";
import { createRoutes } from "./routes.js";
import { closeServerContext, openServerContext, type ServerContext } from "./server-context.js";

const enc = new TextEncoder();
const b = (s: string) => enc.encode(s);

const services: DescService[] = [
  KV,
  Lease,
  Watch,
  Maintenance,
  Cluster,
  Auth,
  Lock,
  Election,
  LeaderElectionService,
  conclaveWatch.WatchService,
  LeaseService,
];

/** Requests that pass each method's validation, so the token check is what answers. */
const requests: Record<string, Record<string, unknown>> = {
  "etcdserverpb.KV/Range": { key: b("k") },
  "etcdserverpb.KV/Put": { key: b("k"), value: b("v") },
  "etcdserverpb.KV/DeleteRange": { key: b("k") },
  "etcdserverpb.Watch/Watch": { requestUnion: { case: "createRequest", value: { key: b("k") } } },
  "etcdserverpb.Maintenance/Alarm": { action: AlarmRequest_AlarmAction.GET },
  "v3lockpb.Lock/Lock": { name: b("l") },
  "v3lockpb.Lock/Unlock": { key: b("l/1") },
  "v3electionpb.Election/Campaign": { name: b("e"), value: b("v") },
  "v3electionpb.Election/Leader": { name: b("e") },
  "v3electionpb.Election/Observe": { name: b("e") },
  "v3electionpb.Election/Proclaim": { leader: { name: b("e"), key: b("e/1"), rev: 1n } },
  "v3electionpb.Election/Resign": { leader: { name: b("e"), key: b("e/1"), rev: 1n } },
  "conclave.v1.WatchService/Watch": { key: b("k") },
};
for (const m of [
  "Create",
  "Close",
  "Enter",
  "Withdraw",
  "Evict",
  "Anoint",
  "Promote",
  "Demote",
  "GetTerm",
  "Events",
]) {
  requests[`conclave.v1.LeaderElectionService/${m}`] = { election: "e", candidateId: "c" };
}

const invalidToken = { code: Code.Unauthenticated, message: "etcdserver: invalid auth token" };
/**
 * Where the refusal differs in form from the table's (the etcd 3.4 shapes
 * clients see); every other implemented method answers `invalidToken`.
 */
const expected: Record<string, { code: Code; message: string }> = {
  // etcd's Lock/Election servers return their client's error as a plain error.
  ...Object.fromEntries(
    ["Lock/Lock", "Lock/Unlock"].map((m) => [
      `v3lockpb.${m}`,
      { code: Code.Unknown, message: invalidToken.message },
    ]),
  ),
  ...Object.fromEntries(
    ["Campaign", "Proclaim", "Leader", "Observe", "Resign"].map((m) => [
      `v3electionpb.Election/${m}`,
      { code: Code.Unknown, message: invalidToken.message },
    ]),
  ),
  // etcd's authMaintenanceServer returns the auth store's error as is.
  ...Object.fromEntries(
    ["Defragment", "Hash", "HashKV", "Snapshot"].map((m) => [
      `etcdserverpb.Maintenance/${m}`,
      { code: Code.Unknown, message: "auth: invalid auth token" },
    ]),
  ),
};

/** Methods Conclave does not implement (single member): Unimplemented, whatever the token. */
const unimplemented = new Set([
  "etcdserverpb.Maintenance/Downgrade",
  "etcdserverpb.Cluster/MemberAdd",
  "etcdserverpb.Cluster/MemberRemove",
  "etcdserverpb.Cluster/MemberUpdate",
  "etcdserverpb.Cluster/MemberPromote",
]);

type Outcome =
  | { kind: "error"; code: Code; message: string }
  | { kind: "ok"; first: unknown }
  | { kind: "watch-refused"; reason: string };

let ctx: ServerContext;
let transport: ReturnType<typeof createRouterTransport>;

/** Calls a method with a bogus token; the first response or the error. */
async function callWithBogusToken(method: DescMethod): Promise<Outcome> {
  const path = `${method.parent.typeName}/${method.name}`;
  const input = create(method.input as DescMessage, requests[path] ?? {});
  const header = { token: "bogusbogusbogusx.1" };
  try {
    if (method.methodKind === "unary") {
      const res = await transport.unary(method as never, undefined, 5_000, header, input as never);
      return { kind: "ok", first: res.message };
    }
    const abort = new AbortController();
    const res = await transport.stream(
      method as never,
      abort.signal,
      5_000,
      header,
      (async function* () {
        yield input as never;
      })(),
    );
    for await (const m of res.message) {
      abort.abort();
      const w = m as { created?: boolean; canceled?: boolean; cancelReason?: string };
      if (method.parent.typeName === "etcdserverpb.Watch" && w.created && w.canceled) {
        return { kind: "watch-refused", reason: w.cancelReason ?? "" };
      }
      return { kind: "ok", first: m };
    }
    return { kind: "ok", first: undefined };
  } catch (e) {
    const ce = ConnectError.from(e);
    return { kind: "error", code: ce.code, message: ce.rawMessage };
  }
}

/** A JWT server's keys: every method must verify the token before its checks read it. */
function jwtTokens() {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const pem = privateKey.export({ type: "pkcs8", format: "pem" }) as string;
  return createJwtTokens({ signMethod: "ES256", privateKey: new TextEncoder().encode(pem) });
}

for (const [tokenType, authOn] of [
  ["simple", false],
  ["simple", true],
  ["jwt", false],
  ["jwt", true],
] as const) {
  describe(`a bogus ${tokenType} token, auth ${authOn ? "on" : "off"}`, () => {
    before(async () => {
      ctx = await openServerContext({
        dataDir: ":memory:",
        ...(tokenType === "jwt" && { jwtTokens: jwtTokens() }),
      });
      transport = createRouterTransport(createRoutes(ctx), {
        router: { interceptors: [errorInterceptor] },
      });
    });
    after(async () => {
      await closeServerContext(ctx);
    });
    before(async () => {
      if (!authOn) return;
      await ctx.auth.userAdd("root", "rootpw");
      await ctx.auth.roleAdd("root");
      await ctx.auth.userGrantRole("root", "root");
      await ctx.auth.enable();
    });

    for (const service of services) {
      for (const method of service.methods) {
        const path = `${service.typeName}/${method.name}`;
        it(path, async () => {
          const got = await callWithBogusToken(method);
          if (unimplemented.has(path)) {
            assert.deepEqual(got, {
              kind: "error",
              code: Code.Unimplemented,
              message: got.kind === "error" ? got.message : "",
            });
            return;
          }
          if (path === "etcdserverpb.Watch/Watch") {
            // etcd's form: the create is answered created+canceled with the status as text.
            assert.deepEqual(got, {
              kind: "watch-refused",
              reason: "rpc error: code = Unauthenticated desc = etcdserver: invalid auth token",
            });
            return;
          }
          const want = expected[path] ?? invalidToken;
          assert.deepEqual(got, { kind: "error", ...want });
        });
      }
    }
  });
}
