// conclave.v1 LeaderElection's Create, Close and List on the real server, one
// scenario driven three ways: gRPC over h2c, Connect JSON with the real curl
// (unary calls and the Events stream, enveloped by hand), and
// @conclave/client over connect-web's Connect transport (fetch, as
// browsers). Every driver must see the same thing.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { createConclaveClient } from "@conclave/client";
import {
  CloseResponseSchema,
  CreateResponseSchema,
  EventReason,
  EventsResponseSchema,
  LeaderElectionService,
  Lease,
  ListResponseSchema,
  type Term,
} from "@conclave/proto";
import { type RunningServer, requireTool, startConclave } from "@conclave/testkit";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createConnectTransport } from "@connectrpc/connect-web";

const run = promisify(execFile);
const service = "conclave.v1.LeaderElectionService";

/** How one kind of caller does Create, Close, List and Events. */
interface Driver {
  name: string;
  create(election: string): Promise<Term>;
  close(election: string): Promise<Term>;
  list(): Promise<{ elections: Term[]; revision: bigint }>;
  /**
   * Opens Events: `opened` once the first event arrived; `ended` when the
   * stream ended by itself, with the reasons seen and whether it ended
   * cleanly (OK status, no error).
   */
  events(election: string): {
    opened: Promise<void>;
    ended: Promise<{ reasons: string[]; ok: boolean }>;
  };
}

/** A failed call's status as Connect names it in JSON (`not_found`). */
async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (e) {
    const name = Code[ConnectError.from(e).code];
    return name.replace(/[A-Z]/g, (c, i) => (i === 0 ? c.toLowerCase() : `_${c.toLowerCase()}`));
  }
}

function grpcDriver(url: string): Driver {
  const le = createClient(LeaderElectionService, createGrpcTransport({ baseUrl: url }));
  return {
    name: "gRPC (h2c)",
    create: async (election) => (await le.create({ election })).term as Term,
    close: async (election) => (await le.close({ election })).term as Term,
    list: async () => le.list({}),
    events(election) {
      let open!: () => void;
      const opened = new Promise<void>((r) => {
        open = r;
      });
      const ended = (async () => {
        const reasons: string[] = [];
        try {
          for await (const ev of le.events({ election })) {
            reasons.push(EventReason[ev.reason]);
            open();
          }
          return { reasons, ok: true };
        } catch {
          return { reasons, ok: false };
        } finally {
          open();
        }
      })();
      return { opened, ended };
    },
  };
}

/** Connect JSON with the real curl, over HTTP/1.1. */
function curlDriver(url: string): Driver {
  const curl = requireTool("curl");
  /** A unary call; rejects with a ConnectError built from Connect's JSON error body. */
  async function call(method: string, body: unknown): Promise<JsonValue> {
    const { stdout } = await run(curl, [
      "-sS",
      "--max-time",
      "10",
      "-w",
      "\n%{http_code}",
      "-H",
      "Content-Type: application/json",
      "-d",
      JSON.stringify(body),
      `${url}/${service}/${method}`,
    ]);
    const cut = stdout.lastIndexOf("\n");
    const status = Number(stdout.slice(cut + 1));
    const json = JSON.parse(stdout.slice(0, cut)) as JsonValue & {
      code?: string;
      message?: string;
    };
    if (status === 200) return json;
    // Connect's JSON errors: `code` in snake case, with its HTTP status.
    const code = Object.entries(Code).find(
      ([k]) => k.replace(/[A-Z]/g, (c, i) => (i === 0 ? c : `_${c}`)).toLowerCase() === json.code,
    )?.[1] as Code | undefined;
    assert.equal(status, code === Code.NotFound ? 404 : status, "HTTP status of not_found");
    throw new ConnectError(json.message ?? "", code ?? Code.Unknown);
  }
  return {
    name: "Connect JSON (curl)",
    create: async (election) =>
      fromJson(CreateResponseSchema, await call("Create", { election })).term as Term,
    close: async (election) =>
      fromJson(CloseResponseSchema, await call("Close", { election })).term as Term,
    list: async () => fromJson(ListResponseSchema, await call("List", {})),
    events(election) {
      // A Connect server stream: the request is one enveloped JSON message,
      // the response data envelopes (flags 0) and an end-stream envelope
      // (flags 2) holding `{}` or `{"error": …}`.
      const json = Buffer.from(JSON.stringify({ election }));
      const request = Buffer.alloc(5 + json.length);
      request.writeUInt32BE(json.length, 1);
      json.copy(request, 5);
      const proc = spawn(curl, [
        "-sS",
        "-N",
        "--max-time",
        "20",
        "-H",
        "Content-Type: application/connect+json",
        "--data-binary",
        "@-",
        `${url}/${service}/Events`,
      ]);
      proc.stdin.end(request);
      let buf = Buffer.alloc(0);
      const reasons: string[] = [];
      let endOk: boolean | undefined;
      let open!: () => void;
      const opened = new Promise<void>((r) => {
        open = r;
      });
      proc.stdout.on("data", (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        while (buf.length >= 5 && buf.length >= 5 + buf.readUInt32BE(1)) {
          const flags = buf[0] as number;
          const len = buf.readUInt32BE(1);
          const msg = JSON.parse(buf.subarray(5, 5 + len).toString()) as JsonValue;
          buf = buf.subarray(5 + len);
          if (flags & 2) {
            endOk = !(msg as { error?: unknown }).error;
          } else {
            reasons.push(EventReason[fromJson(EventsResponseSchema, msg).reason]);
            open();
          }
        }
      });
      const ended = new Promise<{ reasons: string[]; ok: boolean }>((resolve) => {
        proc.once("exit", (code) => {
          open();
          resolve({ reasons, ok: code === 0 && endOk === true });
        });
      });
      return { opened, ended };
    },
  };
}

/** @conclave/client over connect-web's Connect transport (fetch). */
function clientDriver(url: string): Driver & { stop(): void } {
  const client = createConclaveClient(createConnectTransport({ baseUrl: url }));
  return {
    name: "@conclave/client (Connect, fetch)",
    create: (election) => client.leaderElection(election).create(),
    close: (election) => client.leaderElection(election).closeElection(),
    list: () => client.listLeaderElections(),
    events(election) {
      let open!: () => void;
      const opened = new Promise<void>((r) => {
        open = r;
      });
      let failed = false;
      const stream = client.leaderElection(election).events({
        // The client reconnects on errors; any would mean the stream did not end cleanly.
        onDisconnect: () => {
          failed = true;
        },
      });
      const ended = (async () => {
        const reasons: string[] = [];
        try {
          for await (const ev of stream) {
            reasons.push(EventReason[ev.reason]);
            open();
          }
          return { reasons, ok: !failed };
        } catch {
          return { reasons, ok: false };
        } finally {
          open();
        }
      })();
      return { opened, ended };
    },
    stop: () => client.close(),
  };
}

let server: RunningServer;
const drivers: Driver[] = [];
let client: ReturnType<typeof clientDriver> | undefined;

before(async () => {
  server = await startConclave();
  client = clientDriver(server.url);
  drivers.push(grpcDriver(server.url), curlDriver(server.url), client);
});
after(async () => {
  client?.stop();
  await server.stop();
});

describe("LeaderElection Create, Close and List over every way in", () => {
  // The same scenario for each driver, on elections of its own.
  for (const [i, name] of ["grpc", "curl", "client"].entries()) {
    it(name, async () => {
      const d = drivers[i] as Driver;
      // Enter and withdraw go over gRPC for every driver: only the three new RPCs vary.
      const le = createClient(LeaderElectionService, createGrpcTransport({ baseUrl: server.url }));
      const lease = createClient(Lease, createGrpcTransport({ baseUrl: server.url }));
      const e = `life-${name}`;
      const mine = async () =>
        (await d.list()).elections
          .filter((t) => t.election.startsWith(e))
          .map((t) => [t.election, t.leader, t.term, t.candidates, t.created]);

      // Create: idempotent, listed before anyone enters.
      const created = await d.create(e);
      assert.deepEqual(
        [created.election, created.term, created.leader, created.created],
        [e, 0n, "", true],
        d.name,
      );
      assert.equal((await d.create(e)).revision, created.revision, `${d.name}: idempotent`);
      assert.deepEqual(await mine(), [[e, "", 0n, [], true]], d.name);

      // List: current terms; elections nobody is in and never created are not listed.
      const id = (await lease.leaseGrant({ TTL: 30n })).ID;
      await le.enter({ election: e, candidateId: "c1", lease: id });
      await le.enter({ election: e, candidateId: "c2" });
      await le.enter({ election: `${e}-implicit`, candidateId: "x" });
      assert.deepEqual(
        await mine(),
        [
          [e, "c1", 1n, ["c1", "c2"], true],
          [`${e}-implicit`, "x", 1n, ["x"], false],
        ],
        d.name,
      );
      await le.withdraw({ election: `${e}-implicit`, candidateId: "x" });
      assert.deepEqual(await mine(), [[e, "c1", 1n, ["c1", "c2"], true]], d.name);
      const listed = await d.list();
      assert.ok(listed.revision >= created.revision, d.name);

      // Close: everyone leaves, CLOSED ends the term, the stream ends cleanly.
      const stream = d.events(e);
      await stream.opened;
      const closed = await d.close(e);
      assert.deepEqual(
        [closed.leader, closed.term, closed.candidates, closed.created],
        ["", 1n, [], false],
        d.name,
      );
      assert.deepEqual(
        await stream.ended,
        { reasons: ["CURRENT", "CLOSED"], ok: true },
        `${d.name}: Events ends with OK after CLOSED`,
      );
      assert.deepEqual(await mine(), [], d.name);
      // Again: nothing changes. Never existed: NotFound.
      assert.equal((await d.close(e)).revision, closed.revision, d.name);
      assert.equal(await failure(d.close(`${e}-never`)), "not_found", d.name);
      assert.equal(await failure(d.create("")), "invalid_argument", d.name);

      // Entering again elects with the next term; the lease outlived the close.
      const back = (await le.enter({ election: e, candidateId: "c1", lease: id })).term;
      assert.deepEqual([back?.leader, back?.term, back?.created], ["c1", 2n, false], d.name);
      await le.withdraw({ election: e, candidateId: "c1" });
      await lease.leaseRevoke({ ID: id });
    });
  }
});
