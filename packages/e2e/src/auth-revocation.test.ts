// Revoking access stops streams already open (etcd 3.4 checks only when a
// watch is created, so there a revoked user keeps receiving events). For
// every way of losing access — role revoked, permission removed, user
// deleted, password changed — and every streaming door — etcd Watch over
// gRPC, the gateway's /v3/watch, conclave.v1 Watch over Connect, Election
// Observe, conclave.v1 LeaderElection Events, and etcdctl itself — the open
// stream ends with the refusal a new request would get, and nothing written
// after the change reaches it.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import {
  Auth,
  conclaveWatch,
  Election,
  KV,
  LeaderElectionService,
  Permission_Type,
  Watch,
  WatchRequestSchema,
} from "@conclave/proto";
import { type RunningServer, requireTool, startConclave } from "@conclave/testkit";
import { electionKeys } from "@conclave/wire";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { bytes, text } from "./clients.js";

let server: RunningServer;
let auth: ReturnType<typeof createClient<typeof Auth>>;
let rootHeaders: Record<string, string>;
let kv: ReturnType<typeof createClient<typeof KV>>;

const grpc = () => createGrpcTransport({ baseUrl: server.url });
const prefixEnd = (p: string) =>
  p.slice(0, -1) + String.fromCharCode(p.charCodeAt(p.length - 1) + 1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function eventually(what: string, ok: () => boolean, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** How the stream ended: a cancel reason, an error's code and message, or a process exit. */
interface Opened {
  /** Keys (or messages) the stream delivered. */
  seen: string[];
  /** Resolves with how the stream ended. */
  ended: Promise<string>;
  close(): void;
}

/** A streaming door: opens a stream reading everything under `prefix` (an election for the election doors). */
interface Door {
  name: string;
  /** The range the user must be able to READ for this door. */
  readPrefix(scope: string): string;
  open(scope: string, token: string, user: string): Promise<Opened>;
  /** Something that the stream delivers while access lasts. */
  change(scope: string, i: number): Promise<void>;
  /** What that change shows up as in `seen`. */
  shows(scope: string, i: number): string;
}

const putUnder = async (scope: string, i: number) => {
  await kv.put({ key: bytes(`${scope}/k${i}`), value: bytes(`v${i}`) }, { headers: rootHeaders });
};

const doors: Door[] = [
  {
    name: "etcd Watch over gRPC",
    readPrefix: (scope) => `${scope}/`,
    async open(scope, token) {
      const seen: string[] = [];
      const abort = new AbortController();
      const requests = (async function* () {
        yield create(WatchRequestSchema, {
          requestUnion: {
            case: "createRequest",
            value: { key: bytes(`${scope}/`), rangeEnd: bytes(prefixEnd(`${scope}/`)) },
          },
        });
        await new Promise((r) => abort.signal.addEventListener("abort", r));
      })();
      const stream = createClient(Watch, grpc()).watch(requests, {
        headers: { token },
        signal: abort.signal,
      });
      // The watch starts at the revision after its creation: the test's
      // first change must come after the created answer, or it is missed.
      let markCreated = () => {};
      const created = new Promise<void>((r) => {
        markCreated = r;
      });
      const ended = (async () => {
        for await (const r of stream) {
          if (r.created) markCreated();
          for (const e of r.events) seen.push(text(e.kv?.key ?? new Uint8Array()));
          if (r.canceled) return `canceled: ${r.cancelReason}`;
        }
        return "ended";
      })().catch((e: unknown) => `error: ${String(e)}`);
      await Promise.race([created, ended]);
      return { seen, ended, close: () => abort.abort() };
    },
    change: putUnder,
    shows: (scope, i) => `${scope}/k${i}`,
  },
  {
    name: "the gateway's /v3/watch",
    readPrefix: (scope) => `${scope}/`,
    async open(scope, token) {
      const seen: string[] = [];
      const abort = new AbortController();
      const b64 = (s: string) => Buffer.from(s).toString("base64");
      const res = await fetch(`${server.url}/v3/watch`, {
        method: "POST",
        headers: { authorization: token },
        body: JSON.stringify({
          create_request: { key: b64(`${scope}/`), range_end: b64(prefixEnd(`${scope}/`)) },
        }),
        signal: abort.signal,
      });
      let markCreated = () => {};
      const created = new Promise<void>((r) => {
        markCreated = r;
      });
      const ended = (async () => {
        const decoder = new TextDecoder();
        let buffered = "";
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          buffered += decoder.decode(chunk, { stream: true });
          let nl = buffered.indexOf("\n");
          while (nl >= 0) {
            const line = JSON.parse(buffered.slice(0, nl)) as {
              result?: {
                events?: { kv: { key: string } }[];
                created?: boolean;
                canceled?: boolean;
                cancel_reason?: string;
              };
            };
            buffered = buffered.slice(nl + 1);
            if (line.result?.created) markCreated();
            for (const e of line.result?.events ?? []) {
              seen.push(Buffer.from(e.kv.key, "base64").toString());
            }
            if (line.result?.canceled) return `canceled: ${line.result.cancel_reason}`;
            nl = buffered.indexOf("\n");
          }
        }
        return "ended";
      })().catch((e: unknown) => `error: ${String(e)}`);
      await Promise.race([created, ended]);
      return { seen, ended, close: () => abort.abort() };
    },
    change: putUnder,
    shows: (scope, i) => `${scope}/k${i}`,
  },
  {
    name: "conclave.v1 Watch over Connect",
    readPrefix: (scope) => `${scope}/`,
    async open(scope, token) {
      const seen: string[] = [];
      const abort = new AbortController();
      const client = createClient(
        conclaveWatch.WatchService,
        createConnectTransport({ baseUrl: server.url, httpVersion: "1.1" }),
      );
      const stream = client.watch(
        { key: bytes(`${scope}/`), prefix: true },
        { headers: { authorization: token }, signal: abort.signal },
      );
      const ended = (async () => {
        for await (const m of stream) {
          for (const e of m.events) seen.push(text(e.kv?.key ?? new Uint8Array()));
        }
        return "ended";
      })().catch((e: unknown) => errorOutcome(e));
      return { seen, ended, close: () => abort.abort() };
    },
    change: putUnder,
    shows: (scope, i) => `${scope}/k${i}`,
  },
  {
    name: "Election Observe over gRPC",
    readPrefix: (scope) => `${scope}/`,
    async open(scope, token) {
      const seen: string[] = [];
      const abort = new AbortController();
      const stream = createClient(Election, grpc()).observe(
        { name: bytes(scope) },
        { headers: { token }, signal: abort.signal },
      );
      const ended = (async () => {
        for await (const m of stream) seen.push(text(m.kv?.key ?? new Uint8Array()));
        return "ended";
      })().catch((e: unknown) => errorOutcome(e));
      return { seen, ended, close: () => abort.abort() };
    },
    // Observe reports leaders: each change is a new first key under the name.
    async change(scope, i) {
      const key = bytes(`${scope}/k${i}`);
      await kv.put({ key, value: bytes("leader") }, { headers: rootHeaders });
      if (i === 0) return;
      await kv.deleteRange({ key: bytes(`${scope}/k${i - 1}`) }, { headers: rootHeaders });
    },
    shows: (scope, i) => `${scope}/k${i}`,
  },
  {
    name: "conclave.v1 LeaderElection Events over gRPC",
    readPrefix: (scope) => electionKeys(scope).prefix,
    async open(scope, token) {
      const seen: string[] = [];
      const abort = new AbortController();
      const stream = createClient(LeaderElectionService, grpc()).events(
        { election: scope },
        { headers: { token }, signal: abort.signal },
      );
      const ended = (async () => {
        for await (const m of stream) seen.push(m.candidateId);
        return "ended";
      })().catch((e: unknown) => errorOutcome(e));
      return { seen, ended, close: () => abort.abort() };
    },
    async change(scope, i) {
      await createClient(LeaderElectionService, grpc()).enter(
        { election: scope, candidateId: `c${i}` },
        { headers: rootHeaders },
      );
    },
    shows: (_scope, i) => `c${i}`,
  },
];

function errorOutcome(e: unknown): string {
  const c = ConnectError.from(e);
  return `error: ${Code[c.code]} ${c.rawMessage}`;
}

/** Ways to lose access, each run by root against `user` whose role is `role`. */
const revocations: {
  name: string;
  run(user: string, role: string, prefix: string): Promise<void>;
}[] = [
  {
    name: "role revoked",
    run: async (user, role) => {
      await auth.userRevokeRole({ name: user, role }, { headers: rootHeaders });
    },
  },
  {
    name: "permission removed",
    run: async (_user, role, prefix) => {
      await auth.roleRevokePermission(
        { role, key: bytes(prefix), rangeEnd: bytes(prefixEnd(prefix)) },
        { headers: rootHeaders },
      );
    },
  },
  {
    name: "user deleted",
    run: async (user) => {
      await auth.userDelete({ name: user }, { headers: rootHeaders });
    },
  },
  {
    name: "password changed",
    run: async (user) => {
      await auth.userChangePassword({ name: user, password: "new" }, { headers: rootHeaders });
    },
  },
];

/** What each revocation ends a stream with, by door: etcd's texts in each door's form. */
function expectedEnd(door: Door, revocation: string): RegExp {
  const tokenVoid = revocation === "user deleted" || revocation === "password changed";
  const text = tokenVoid ? "etcdserver: invalid auth token" : "etcdserver: permission denied";
  const grpcCode = tokenVoid ? "Unauthenticated" : "PermissionDenied";
  if (door.name.includes("Watch over gRPC") || door.name.includes("/v3/watch")) {
    return new RegExp(`^canceled: rpc error: code = ${grpcCode} desc = ${text}$`);
  }
  // Election's recipes answer plain errors (code Unknown), as etcd's do.
  if (door.name.startsWith("Election")) return new RegExp(`^error: Unknown ${text}$`);
  return new RegExp(`^error: ${grpcCode} ${text}$`);
}

let scopes = 0;

/** A user who may READ (and, for elections, WRITE) under the door's prefix, with a token. */
async function newReader(door: Door) {
  const n = ++scopes;
  const [user, role, scope] = [`u${n}`, `r${n}`, `s${n}`];
  const prefix = door.readPrefix(scope);
  await auth.userAdd({ name: user, password: "pw" }, { headers: rootHeaders });
  await auth.roleAdd({ name: role }, { headers: rootHeaders });
  await auth.roleGrantPermission(
    {
      name: role,
      perm: {
        permType: Permission_Type.READ,
        key: bytes(prefix),
        rangeEnd: bytes(prefixEnd(prefix)),
      },
    },
    { headers: rootHeaders },
  );
  await auth.userGrantRole({ user, role }, { headers: rootHeaders });
  const { token } = await auth.authenticate({ name: user, password: "pw" });
  return { user, role, scope, prefix, token };
}

before(async () => {
  server = await startConclave();
  auth = createClient(Auth, grpc());
  kv = createClient(KV, grpc());
  await auth.userAdd({ name: "root", password: "rootpw" });
  await auth.roleAdd({ name: "root" });
  await auth.userGrantRole({ user: "root", role: "root" });
  await auth.authEnable({});
  const { token } = await auth.authenticate({ name: "root", password: "rootpw" });
  rootHeaders = { token };
});

after(async () => {
  await server?.stop();
});

describe("auth revocation ends open streams", () => {
  for (const door of doors) {
    for (const revocation of revocations) {
      test(`${door.name}: ${revocation.name}`, async () => {
        const r = await newReader(door);
        const opened = await door.open(r.scope, r.token, r.user);
        try {
          await door.change(r.scope, 0);
          const first = door.shows(r.scope, 0);
          await eventually(`${first} to arrive`, () => opened.seen.includes(first));
          await revocation.run(r.user, r.role, r.prefix);
          await door.change(r.scope, 1);
          const end = await Promise.race([opened.ended, sleep(5000).then(() => "still open")]);
          assert.match(end, expectedEnd(door, revocation.name));
          await sleep(50);
          assert.ok(
            !opened.seen.includes(door.shows(r.scope, 1)),
            `a change after the revocation was delivered: ${opened.seen.join(", ")}`,
          );
        } finally {
          opened.close();
        }
      });
    }
  }

  test("etcdctl watch: a revoked user's watch is canceled and sees nothing after", async () => {
    const door = doors[0] as Door;
    const r = await newReader(door);
    const proc = spawn(
      requireTool("etcdctl"),
      [`--endpoints=${server.endpoint}`, `--user=${r.user}:pw`, "watch", "--prefix", `${r.scope}/`],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    proc.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    proc.stderr.on("data", (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => proc.once("exit", resolve));
    try {
      // etcdctl authenticates, then opens its watch: retry the first put until it shows.
      for (let i = 0; !out.includes(`${r.scope}/k0`); i++) {
        if (i > 100) assert.fail(`etcdctl never printed the first event: ${out}`);
        await putUnder(r.scope, 0);
        await sleep(50);
      }
      await auth.userRevokeRole({ name: r.user, role: r.role }, { headers: rootHeaders });
      await putUnder(r.scope, 1);
      const code = await Promise.race([exited, sleep(5000).then(() => "running")]);
      assert.notEqual(code, "running", `etcdctl still runs: ${out}`);
      assert.notEqual(code, 0);
      assert.match(out, /watch is canceled by the server/);
      assert.ok(!out.includes(`${r.scope}/k1`), out);
    } finally {
      proc.kill("SIGKILL");
    }
  });
});
