// One permission matrix, four ways in: gRPC (token metadata, as clientv3
// sends it), Connect JSON over HTTP/1.1 by hand (Authorization header, as a
// browser or curl sends it), etcd's JSON gateway (Authorization header) and
// @conclave/client over connect-web's Connect transport with an auth session.
// Every way must allow and deny the same calls with etcd's codes and texts.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createAuthSession, createConclaveClient } from "@conclave/client";
import { Auth, KV, Permission_Type } from "@conclave/proto";
import { type RunningServer, startConclave } from "@conclave/testkit";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createConnectTransport } from "@connectrpc/connect-web";
import { bytes } from "./clients.js";

type Op =
  | { kind: "put"; key: string }
  | { kind: "get"; key: string; prefix?: boolean }
  | { kind: "delete"; key: string; prefix?: boolean };

/** What a call came to: ok, or the gRPC code and etcd's message. */
type Outcome = "ok" | { code: Code; message: string };

const denied: Outcome = { code: Code.PermissionDenied, message: "etcdserver: permission denied" };
const noUser: Outcome = { code: Code.InvalidArgument, message: "etcdserver: user name is empty" };
const badToken: Outcome = { code: Code.Unauthenticated, message: "etcdserver: invalid auth token" };

/** alice: READWRITE on the prefix app/, READ on the key "ro". */
const matrix: Array<[Op, Outcome]> = [
  [{ kind: "put", key: "app/a" }, "ok"],
  [{ kind: "get", key: "app/a" }, "ok"],
  [{ kind: "get", key: "app/", prefix: true }, "ok"],
  [{ kind: "get", key: "ro" }, "ok"],
  [{ kind: "put", key: "ro" }, denied],
  [{ kind: "put", key: "other" }, denied],
  [{ kind: "get", key: "other" }, denied],
  [{ kind: "get", key: "ap", prefix: true }, denied],
  [{ kind: "delete", key: "ro" }, denied],
  [{ kind: "delete", key: "app/", prefix: true }, "ok"],
];

/** A way in: authenticates alice (or not), then runs one op. */
interface Way {
  name: string;
  login(token: "alice" | "none" | "bogus"): Promise<void>;
  run(op: Op): Promise<Outcome>;
}

const b64 = (s: string) => Buffer.from(s).toString("base64");
const prefixEnd = (p: string) =>
  p.slice(0, -1) + String.fromCharCode(p.charCodeAt(p.length - 1) + 1);

/** Connect's JSON error codes (snake_case) and the gateway's numeric ones, as Codes. */
const connectCodes: Record<string, Code> = {
  permission_denied: Code.PermissionDenied,
  invalid_argument: Code.InvalidArgument,
  unauthenticated: Code.Unauthenticated,
};

let server: RunningServer;
let aliceToken = "";

function ways(): Way[] {
  const grpc = createGrpcTransport({ baseUrl: server.url });
  const grpcKv = createClient(KV, grpc);
  let grpcToken: string | undefined;

  let httpToken: string | undefined;
  const headerFor = (t: string | undefined): Record<string, string> =>
    t === undefined ? {} : { authorization: t };

  const session = createAuthSession();
  const web = createConnectTransport({
    baseUrl: server.url,
    interceptors: [session.interceptor],
  });
  const client = createConclaveClient(web);

  const tokenFor = (who: "alice" | "none" | "bogus") =>
    who === "alice" ? aliceToken : who === "bogus" ? "bogusbogusbogusb.1" : undefined;
  const fromError = (e: unknown): Outcome => {
    const ce = ConnectError.from(e);
    return { code: ce.code, message: ce.rawMessage };
  };

  return [
    {
      name: "gRPC (token metadata)",
      async login(who) {
        grpcToken = tokenFor(who);
      },
      async run(op) {
        const headers = grpcToken === undefined ? {} : { token: grpcToken };
        const key = bytes(op.key);
        const rangeEnd = "prefix" in op && op.prefix ? bytes(prefixEnd(op.key)) : new Uint8Array();
        try {
          if (op.kind === "put") await grpcKv.put({ key, value: bytes("v") }, { headers });
          if (op.kind === "get") await grpcKv.range({ key, rangeEnd }, { headers });
          if (op.kind === "delete") await grpcKv.deleteRange({ key, rangeEnd }, { headers });
          return "ok";
        } catch (e) {
          return fromError(e);
        }
      },
    },
    {
      name: "Connect JSON by hand (Authorization header)",
      async login(who) {
        httpToken = tokenFor(who);
      },
      async run(op) {
        const method = { put: "Put", get: "Range", delete: "DeleteRange" }[op.kind];
        const body: Record<string, unknown> = { key: b64(op.key) };
        if (op.kind === "put") body.value = b64("v");
        if ("prefix" in op && op.prefix) body.rangeEnd = b64(prefixEnd(op.key));
        const res = await fetch(`${server.url}/etcdserverpb.KV/${method}`, {
          method: "POST",
          headers: { "content-type": "application/json", ...headerFor(httpToken) },
          body: JSON.stringify(body),
        });
        const json = (await res.json()) as { code?: string; message?: string };
        if (res.ok) return "ok";
        return { code: connectCodes[json.code ?? ""] ?? Code.Unknown, message: json.message ?? "" };
      },
    },
    {
      name: "etcd JSON gateway (Authorization header)",
      async login(who) {
        httpToken = tokenFor(who);
      },
      async run(op) {
        const path = { put: "put", get: "range", delete: "deleterange" }[op.kind];
        const body: Record<string, unknown> = { key: b64(op.key) };
        if (op.kind === "put") body.value = b64("v");
        if ("prefix" in op && op.prefix) body.range_end = b64(prefixEnd(op.key));
        const res = await fetch(`${server.url}/v3/kv/${path}`, {
          method: "POST",
          headers: headerFor(httpToken),
          body: JSON.stringify(body),
        });
        const json = (await res.json()) as { code?: number; message?: string; error?: string };
        if (res.ok) return "ok";
        assert.equal(json.error, json.message, "etcd's gateway repeats the message as error");
        const status = { 7: 403, 3: 400, 16: 401 }[json.code ?? 0];
        assert.equal(res.status, status, `HTTP status for code ${json.code}`);
        return { code: json.code as Code, message: json.message ?? "" };
      },
    },
    {
      name: "@conclave/client over connect-web (auth session)",
      async login(who) {
        session.logout();
        if (who === "alice") await session.login(web, "alice", "alicepw");
      },
      async run(op) {
        try {
          if (op.kind === "put") await client.put(op.key, "v");
          if (op.kind === "get") await client.range(op.key, { prefix: op.prefix === true });
          if (op.kind === "delete") await client.delete(op.key, { prefix: op.prefix === true });
          return "ok";
        } catch (e) {
          return fromError(e);
        }
      },
    },
  ];
}

before(async () => {
  server = await startConclave();
  const transport = createGrpcTransport({ baseUrl: server.url });
  const auth = createClient(Auth, transport);
  await auth.userAdd({ name: "root", password: "rootpw", options: {} });
  await auth.userGrantRole({ user: "root", role: "root" });
  await auth.userAdd({ name: "alice", password: "alicepw", options: {} });
  await auth.roleAdd({ name: "app" });
  await auth.roleGrantPermission({
    name: "app",
    perm: { permType: Permission_Type.READWRITE, key: bytes("app/"), rangeEnd: bytes("app0") },
  });
  await auth.roleGrantPermission({
    name: "app",
    perm: { permType: Permission_Type.READ, key: bytes("ro"), rangeEnd: new Uint8Array() },
  });
  await auth.userGrantRole({ user: "alice", role: "app" });
  await auth.authEnable({});
  aliceToken = (await auth.authenticate({ name: "alice", password: "alicepw" })).token;
});
after(async () => {
  assert.equal(await server.stop(), 0, server.output());
});

const wayNames = [
  "gRPC (token metadata)",
  "Connect JSON by hand (Authorization header)",
  "etcd JSON gateway (Authorization header)",
  "@conclave/client over connect-web (auth session)",
];

describe("the same permission matrix over every protocol", () => {
  for (const [index, name] of wayNames.entries()) {
    test(name, async () => {
      const way = ways()[index] as Way;
      assert.equal(way.name, name);
      await way.login("alice");
      for (const [op, want] of matrix) {
        assert.deepEqual(await way.run(op), want, `${way.name}: ${JSON.stringify(op)}`);
      }
      await way.login("none");
      assert.deepEqual(await way.run({ kind: "get", key: "app/a" }), noUser, way.name);
      if (index < 3) {
        await way.login("bogus");
        assert.deepEqual(await way.run({ kind: "get", key: "app/a" }), badToken, way.name);
      }
    });
  }
});
