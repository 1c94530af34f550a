// The conclave CLI on one port, driven by Connect clients over gRPC (h2c),
// gRPC-Web and the Connect protocol (JSON and binary over HTTP/1.1), by plain
// fetch as curl would, and by raw HTTP/2 and TCP for malformed input.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { connect as http2Connect } from "node:http2";
import { connect as netConnect } from "node:net";
import { after, before, describe, test } from "node:test";
import { create, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import {
  type Compare,
  Compare_CompareResult,
  Compare_CompareTarget,
  CompareSchema,
  PutRequestSchema,
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
  type RangeRequestSchema,
  type RequestOp,
  RequestOpSchema,
  type TxnRequestSchema,
} from "@conclave/proto";
import { type RunningServer, startConclave } from "@conclave/testkit";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  bytes,
  type EtcdClients,
  etcdClients,
  expectConnectError,
  type Protocol,
  prefixEnd,
  protocols,
  text,
  transportFor,
} from "./clients.js";

type RangeInit = MessageInitShape<typeof RangeRequestSchema>;
type TxnInit = MessageInitShape<typeof TxnRequestSchema>;

const defaultMaxRequestBytes = 1_572_864;
const grpcOverhead = 512 * 1024;

const putOp = (key: string, value = "v"): RequestOp =>
  create(RequestOpSchema, {
    request: { case: "requestPut", value: { key: bytes(key), value: bytes(value) } },
  });
const rangeOp = (key: string): RequestOp =>
  create(RequestOpSchema, { request: { case: "requestRange", value: { key: bytes(key) } } });
const deleteOp = (key: string, rangeEnd: Uint8Array = new Uint8Array()): RequestOp =>
  create(RequestOpSchema, {
    request: { case: "requestDeleteRange", value: { key: bytes(key), rangeEnd } },
  });
const txnOp = (txn: TxnInit): RequestOp =>
  create(RequestOpSchema, { request: { case: "requestTxn", value: txn } });
const versionIs = (key: string, version: bigint): Compare =>
  create(CompareSchema, {
    key: bytes(key),
    result: Compare_CompareResult.EQUAL,
    target: Compare_CompareTarget.VERSION,
    targetUnion: { case: "version", value: version },
  });
const times = <T>(n: number, f: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => f(i));

/**
 * The exact ResourceExhausted message for a message over the receive limit:
 * grpc-go's (etcd's) wording over gRPC; Connect's own over gRPC-Web (its
 * status travels in the body, which etcd never served) and Connect.
 */
function tooBigMessage(protocol: Protocol, encodedSize: number, readMax: number): string {
  if (protocol === "grpc")
    return `grpc: received message larger than max (${encodedSize} vs. ${readMax})`;
  return protocol === "grpc-web"
    ? `message size ${encodedSize} is larger than configured readMaxBytes ${readMax}`
    : `message size is larger than configured readMaxBytes ${readMax}`;
}

/** POSTs a body to a Connect unary route exactly as curl would (HTTP/1.1, no Connect headers). */
async function curlPost(
  server: RunningServer,
  path: string,
  body: string | Uint8Array,
  ct: string,
) {
  const res = await fetch(`${server.url}${path}`, {
    method: "POST",
    headers: { "Content-Type": ct },
    body,
  });
  return {
    status: res.status,
    contentType: res.headers.get("content-type"),
    body: await res.text(),
  };
}

describe("conclave over gRPC, gRPC-Web and Connect on one port", () => {
  let server: RunningServer;
  let grpc: EtcdClients;

  /** The server answers a plain read over a fresh gRPC transport. */
  async function assertServing() {
    assert.equal(server.proc.exitCode, null, `server exited:\n${server.output()}`);
    const fresh = etcdClients(transportFor("grpc", server.url));
    const r = await fresh.kv.range({ key: bytes("liveness-probe") });
    assert.ok((r.header?.revision ?? 0n) >= 1n);
  }

  before(async () => {
    server = await startConclave();
    grpc = etcdClients(transportFor("grpc", server.url));
  });

  after(async () => {
    const code = await server.stop();
    rmSync(server.dataDir, { recursive: true, force: true });
    assert.equal(code, 0, `conclave exited with ${code}:\n${server.output()}`);
  });

  describe("gRPC over h2c", () => {
    test("put bumps the revision by one; prev_kv returns the previous pair", async () => {
      const r1 = await grpc.kv.put({ key: bytes("g/put"), value: bytes("one") });
      const rev1 = r1.header?.revision ?? 0n;
      assert.ok(rev1 >= 2n, "a fresh store is at revision 1, the first write makes 2");
      assert.equal(r1.prevKv, undefined, "no prev_kv unless asked");
      assert.notEqual(r1.header?.clusterId, 0n);
      assert.notEqual(r1.header?.memberId, 0n);
      assert.ok((r1.header?.raftTerm ?? 0n) >= 1n);

      const r2 = await grpc.kv.put({ key: bytes("g/put"), value: bytes("two"), prevKv: true });
      assert.equal(r2.header?.revision, rev1 + 1n);
      assert.equal(text(r2.prevKv?.value ?? new Uint8Array()), "one");
      assert.equal(r2.prevKv?.modRevision, rev1);
      assert.equal(r2.prevKv?.createRevision, rev1);
      assert.equal(r2.prevKv?.version, 1n);

      const got = await grpc.kv.range({ key: bytes("g/put") });
      assert.equal(got.header?.revision, rev1 + 1n);
      assert.equal(got.count, 1n);
      assert.equal(got.kvs.length, 1);
      const kv = got.kvs[0];
      assert.equal(text(kv?.value ?? new Uint8Array()), "two");
      assert.equal(kv?.createRevision, rev1);
      assert.equal(kv?.modRevision, rev1 + 1n);
      assert.equal(kv?.version, 2n);
    });

    describe("range options (each row checked against etcd 3.4.23)", () => {
      // Written in the order b, c, a: modification order differs from key order.
      const revs: bigint[] = [];
      const base = () => ({ key: bytes("g/r/"), rangeEnd: prefixEnd("g/r/") });

      before(async () => {
        for (const k of ["g/r/b", "g/r/c", "g/r/a"]) {
          const r = await grpc.kv.put({ key: bytes(k), value: bytes(`${k}!`) });
          revs.push(r.header?.revision ?? 0n);
        }
      });

      const rows: {
        name: string;
        req: () => RangeInit;
        keys: string[];
        count: bigint;
        more: boolean;
        values?: boolean;
      }[] = [
        { name: "prefix", req: base, keys: ["g/r/a", "g/r/b", "g/r/c"], count: 3n, more: false },
        {
          name: "limit keeps count and sets more",
          req: () => ({ ...base(), limit: 2n }),
          keys: ["g/r/a", "g/r/b"],
          count: 3n,
          more: true,
        },
        {
          name: "count_only returns no kvs",
          req: () => ({ ...base(), countOnly: true, limit: 1n }),
          keys: [],
          count: 3n,
          more: false,
        },
        {
          name: "keys_only drops values",
          req: () => ({ ...base(), keysOnly: true }),
          keys: ["g/r/a", "g/r/b", "g/r/c"],
          count: 3n,
          more: false,
          values: false,
        },
        {
          name: "sort by MOD with order NONE sorts ascending",
          req: () => ({ ...base(), sortTarget: RangeRequest_SortTarget.MOD }),
          keys: ["g/r/b", "g/r/c", "g/r/a"],
          count: 3n,
          more: false,
        },
        {
          name: "sort by MOD DESCEND, limit 1",
          req: () => ({
            ...base(),
            sortTarget: RangeRequest_SortTarget.MOD,
            sortOrder: RangeRequest_SortOrder.DESCEND,
            limit: 1n,
          }),
          keys: ["g/r/a"],
          count: 3n,
          more: true,
        },
        {
          name: "sort KEY DESCEND",
          req: () => ({ ...base(), sortOrder: RangeRequest_SortOrder.DESCEND }),
          keys: ["g/r/c", "g/r/b", "g/r/a"],
          count: 3n,
          more: false,
        },
        {
          name: "revision reads the past",
          req: () => ({ ...base(), revision: revs[1] ?? 0n }),
          keys: ["g/r/b", "g/r/c"],
          count: 2n,
          more: false,
        },
        {
          name: "min_mod_revision filters kvs but not count",
          req: () => ({ ...base(), minModRevision: revs[1] ?? 0n }),
          keys: ["g/r/a", "g/r/c"],
          count: 3n,
          more: false,
        },
        {
          name: "max_create_revision with limit",
          req: () => ({ ...base(), maxCreateRevision: revs[1] ?? 0n, limit: 1n }),
          keys: ["g/r/b"],
          count: 3n,
          more: true,
        },
        {
          name: 'range_end "\\0" reads every key from key on',
          req: () => ({ key: bytes("g/r/b"), rangeEnd: new Uint8Array([0]), limit: 10n }),
          keys: ["g/r/b", "g/r/c"],
          count: 2n,
          more: false,
        },
      ];
      for (const row of rows) {
        test(row.name, async () => {
          const r = await grpc.kv.range(row.req());
          assert.deepEqual(
            r.kvs.map((kv) => text(kv.key)),
            row.keys,
          );
          assert.equal(r.count, row.count, "count");
          assert.equal(r.more, row.more, "more");
          for (const kv of r.kvs) {
            const expected = row.values === false ? "" : `${text(kv.key)}!`;
            assert.equal(text(kv.value), expected, `value of ${text(kv.key)}`);
          }
        });
      }
    });

    test("txn: compares pick the branch; ops see each other; one revision per write txn", async () => {
      const start = await grpc.kv.put({ key: bytes("g/txn"), value: bytes("1") });
      const rev0 = start.header?.revision ?? 0n;

      const ok = await grpc.kv.txn({
        compare: [versionIs("g/txn", 1n)],
        success: [putOp("g/txn", "2"), putOp("g/txn-other", "x"), rangeOp("g/txn")],
        failure: [putOp("g/txn", "never")],
      });
      assert.equal(ok.succeeded, true);
      assert.equal(ok.header?.revision, rev0 + 1n, "a write txn is one revision");
      assert.equal(ok.responses.length, 3);
      assert.equal(ok.responses[0]?.response.case, "responsePut");
      const read = ok.responses[2]?.response;
      assert.equal(read?.case, "responseRange");
      if (read?.case === "responseRange") {
        assert.equal(text(read.value.kvs[0]?.value ?? new Uint8Array()), "2");
        assert.equal(read.value.kvs[0]?.modRevision, rev0 + 1n);
      }

      const failed = await grpc.kv.txn({
        compare: [versionIs("g/txn", 1n)],
        success: [putOp("g/txn", "never")],
        failure: [rangeOp("g/txn")],
      });
      assert.equal(failed.succeeded, false);
      assert.equal(failed.header?.revision, rev0 + 1n, "a read-only txn does not bump");
      const r = failed.responses[0]?.response;
      assert.equal(r?.case === "responseRange" && text(r.value.kvs[0]?.value ?? bytes("")), "2");

      // A nested txn: its ops run in the outer txn's revision; its header is empty.
      const nested = await grpc.kv.txn({
        success: [txnOp({ compare: [versionIs("g/txn", 2n)], success: [putOp("g/nested", "n")] })],
      });
      assert.equal(nested.header?.revision, rev0 + 2n);
      const inner = nested.responses[0]?.response;
      assert.equal(inner?.case, "responseTxn");
      if (inner?.case === "responseTxn") {
        assert.equal(inner.value.succeeded, true);
        assert.equal(inner.value.header?.revision ?? 0n, 0n);
      }
    });

    test("delete_range with prev_kv; deleting nothing does not bump the revision", async () => {
      for (const k of ["g/del/1", "g/del/2", "g/del3"]) {
        await grpc.kv.put({ key: bytes(k), value: bytes(k) });
      }
      const d = await grpc.kv.deleteRange({
        key: bytes("g/del/"),
        rangeEnd: prefixEnd("g/del/"),
        prevKv: true,
      });
      assert.equal(d.deleted, 2n);
      assert.deepEqual(
        d.prevKvs.map((kv) => text(kv.value)),
        ["g/del/1", "g/del/2"],
      );
      const rev = d.header?.revision ?? 0n;
      const none = await grpc.kv.deleteRange({ key: bytes("g/del/1") });
      assert.equal(none.deleted, 0n);
      assert.equal(none.header?.revision, rev);
      const left = await grpc.kv.range({ key: bytes("g/del"), rangeEnd: prefixEnd("g/del") });
      assert.deepEqual(
        left.kvs.map((kv) => text(kv.key)),
        ["g/del3"],
      );
    });

    test("compact: older revisions are gone, the compact revision stays readable", async () => {
      const revs: bigint[] = [];
      for (const v of ["c1", "c2", "c3"]) {
        revs.push(
          (await grpc.kv.put({ key: bytes("g/cmp"), value: bytes(v) })).header?.revision ?? 0n,
        );
      }
      const [r1, r2, r3] = revs as [bigint, bigint, bigint];
      const c = await grpc.kv.compact({ revision: r2 });
      assert.equal(c.header?.revision, r3);

      await expectConnectError(
        grpc.kv.range({ key: bytes("g/cmp"), revision: r1 }),
        Code.OutOfRange,
        "etcdserver: mvcc: required revision has been compacted",
      );
      const at = await grpc.kv.range({ key: bytes("g/cmp"), revision: r2 });
      assert.equal(text(at.kvs[0]?.value ?? new Uint8Array()), "c2");

      await expectConnectError(
        grpc.kv.compact({ revision: r2 }),
        Code.OutOfRange,
        "etcdserver: mvcc: required revision has been compacted",
      );
      await expectConnectError(
        grpc.kv.compact({ revision: r3 + 10n }),
        Code.OutOfRange,
        "etcdserver: mvcc: required revision is a future revision",
      );
      await expectConnectError(
        grpc.kv.range({ key: bytes("g/cmp"), revision: r3 + 1n }),
        Code.OutOfRange,
        "etcdserver: mvcc: required revision is a future revision",
      );

      const physical = await grpc.kv.compact({ revision: r3, physical: true });
      assert.equal(physical.header?.revision, r3, "compacting at the current revision is allowed");
      await expectConnectError(
        grpc.kv.range({ key: bytes("g/cmp"), revision: r2 }),
        Code.OutOfRange,
        "etcdserver: mvcc: required revision has been compacted",
      );
      const now = await grpc.kv.range({ key: bytes("g/cmp") });
      assert.equal(text(now.kvs[0]?.value ?? new Uint8Array()), "c3");
    });

    test("Maintenance.Status and Cluster.MemberList describe this one member", async () => {
      const put = await grpc.kv.put({ key: bytes("g/status"), value: bytes("x") });
      const status = await grpc.maintenance.status({});
      assert.equal(status.leader, status.header?.memberId);
      assert.equal(status.raftIndex, put.header?.revision);
      assert.equal(status.header?.revision, put.header?.revision);
      assert.match(status.version, /^3\.\d+\.\d+$/);
      const members = await grpc.cluster.memberList({});
      assert.equal(members.members.length, 1);
      assert.equal(members.members[0]?.ID, status.header?.memberId);
      assert.deepEqual(members.members[0]?.clientURLs, [server.url]);
    });
  });

  describe("Connect JSON over HTTP/1.1, as curl sends it", () => {
    test("POST /etcdserverpb.KV/Put and /Range with base64 bytes; int64 come back as strings", async () => {
      const put = await curlPost(
        server,
        "/etcdserverpb.KV/Put",
        '{"key":"Zm9v","value":"YmFy"}',
        "application/json",
      );
      assert.equal(put.status, 200, put.body);
      assert.equal(put.contentType, "application/json");
      const putJson = JSON.parse(put.body) as { header: Record<string, unknown> };
      assert.equal(typeof putJson.header.revision, "string");
      assert.match(String(putJson.header.revision), /^[1-9]\d*$/);
      assert.match(String(putJson.header.memberId), /^[1-9]\d*$/);
      const rev = String(putJson.header.revision);

      const range = await curlPost(
        server,
        "/etcdserverpb.KV/Range",
        '{"key":"Zm9v"}',
        "application/json",
      );
      assert.equal(range.status, 200, range.body);
      const r = JSON.parse(range.body) as {
        header: { revision: string };
        kvs: { key: string; value: string; modRevision: string; version: string }[];
        count: string;
      };
      assert.equal(r.header.revision, rev);
      assert.equal(r.count, "1");
      assert.equal(r.kvs.length, 1);
      assert.equal(r.kvs[0]?.key, "Zm9v");
      assert.equal(r.kvs[0]?.value, "YmFy");
      assert.equal(r.kvs[0]?.modRevision, rev);
      assert.equal(typeof r.kvs[0]?.version, "string");

      // proto field names are accepted as input too.
      const countOnly = await curlPost(
        server,
        "/etcdserverpb.KV/Range",
        '{"key":"Zm9v","count_only":true}',
        "application/json",
      );
      assert.equal(countOnly.status, 200);
      assert.deepEqual(JSON.parse(countOnly.body).kvs, undefined);
      assert.equal(JSON.parse(countOnly.body).count, "1");
    });

    test("an etcd error is an HTTP 400 Connect error with the etcd message", async () => {
      const r = await curlPost(
        server,
        "/etcdserverpb.KV/Put",
        '{"value":"YmFy"}',
        "application/json",
      );
      assert.equal(r.status, 400);
      assert.deepEqual(JSON.parse(r.body), {
        code: "invalid_argument",
        message: "etcdserver: key is not provided",
      });
    });
  });

  describe("every protocol on the same port", () => {
    for (const protocol of protocols) {
      test(`${protocol}: put, range, txn, delete and status`, async () => {
        const c = etcdClients(transportFor(protocol, server.url));
        const key = `p/${protocol}`;
        const put = await c.kv.put({ key: bytes(key), value: bytes("v1") });
        const rev = put.header?.revision ?? 0n;
        assert.ok(rev > 1n);

        const got = await c.kv.range({ key: bytes(key) });
        assert.equal(text(got.kvs[0]?.value ?? new Uint8Array()), "v1");
        assert.equal(got.kvs[0]?.modRevision, rev);

        const txn = await c.kv.txn({
          compare: [versionIs(key, 1n)],
          success: [putOp(key, "v2")],
          failure: [],
        });
        assert.equal(txn.succeeded, true);
        assert.equal(txn.header?.revision, rev + 1n);

        // What one protocol wrote, another reads.
        const viaGrpc = await grpc.kv.range({ key: bytes(key) });
        assert.equal(text(viaGrpc.kvs[0]?.value ?? new Uint8Array()), "v2");

        const del = await c.kv.deleteRange({ key: bytes(key), prevKv: true });
        assert.equal(del.deleted, 1n);
        assert.equal(text(del.prevKvs[0]?.value ?? new Uint8Array()), "v2");

        const status = await c.maintenance.status({});
        assert.equal(status.leader, status.header?.memberId);

        await expectConnectError(
          c.kv.put({ key: new Uint8Array(), value: bytes("x") }),
          Code.InvalidArgument,
          "etcdserver: key is not provided",
        );
      });
    }
  });

  describe("bad input", () => {
    const malformedJson = [
      { name: "truncated object", body: '{"key":"Zm9v",' },
      { name: "not JSON at all", body: "key=foo&value=bar" },
      { name: "wrong field type", body: '{"key":5}' },
      { name: "invalid base64", body: '{"key":"%%%"}' },
    ];
    for (const { name, body } of malformedJson) {
      test(`malformed JSON (${name}) → 400 invalid_argument, server keeps serving`, async () => {
        const r = await curlPost(server, "/etcdserverpb.KV/Put", body, "application/json");
        assert.equal(r.status, 400, r.body);
        const err = JSON.parse(r.body) as { code: string; message: string };
        assert.equal(err.code, "invalid_argument");
        assert.match(err.message, /^cannot decode (message|field) etcdserverpb\.PutRequest/);
        await assertServing();
      });
    }

    test("garbage protobuf bytes over Connect binary → internal error, not a crash", async () => {
      const r = await curlPost(
        server,
        "/etcdserverpb.KV/Put",
        new Uint8Array([0xff, 0xff, 0xff, 0x01, 0x02]),
        "application/proto",
      );
      // grpc-go (and so etcd) reports undecodable requests as Internal too.
      assert.equal(r.status, 500, r.body);
      const err = JSON.parse(r.body) as { code: string; message: string };
      assert.equal(err.code, "internal");
      assert.match(err.message, /^parse binary: /);
      await assertServing();
    });

    /** Sends one raw gRPC request over h2c; resolves with grpc-status and grpc-message. */
    function rawGrpc(path: string, body: Buffer): Promise<{ status: string; message: string }> {
      return new Promise((resolve, reject) => {
        const session = http2Connect(server.url);
        session.on("error", reject);
        const req = session.request({
          ":method": "POST",
          ":path": path,
          "content-type": "application/grpc",
          te: "trailers",
        });
        let headers: Record<string, unknown> = {};
        req.on("response", (h) => {
          headers = h;
        });
        req.on("trailers", (t) => {
          headers = { ...headers, ...t };
        });
        req.on("data", () => {});
        req.on("error", reject);
        req.on("close", () => {
          session.close();
          resolve({
            status: String(headers["grpc-status"]),
            message: decodeURIComponent(String(headers["grpc-message"] ?? "")),
          });
        });
        req.end(body);
      });
    }

    const envelope = (payload: Buffer, declared = payload.length) => {
      const head = Buffer.alloc(5);
      head.writeUInt32BE(declared, 1);
      return Buffer.concat([head, payload]);
    };
    const rawCases = [
      {
        name: "garbage protobuf in a valid envelope",
        body: envelope(Buffer.from([0xff, 0xff, 0xff, 0x01, 0x02])),
        code: Code.Internal,
        message: /^parse binary: /,
      },
      {
        name: "an envelope promising more bytes than sent",
        body: envelope(Buffer.from([0x0a, 0x01, 0x61]), 100),
        code: Code.InvalidArgument,
        message: /^protocol error: incomplete envelope$/,
      },
      {
        name: "a body shorter than the envelope header",
        body: Buffer.from([0x00, 0x00]),
        code: Code.InvalidArgument,
        message: /.+/,
      },
    ];
    for (const c of rawCases) {
      test(`raw gRPC over h2c: ${c.name} → error status, not a crash`, async () => {
        const r = await rawGrpc("/etcdserverpb.KV/Put", c.body);
        assert.equal(Code[Number(r.status)], Code[c.code], `grpc-status ${r.status}: ${r.message}`);
        assert.match(r.message, c.message);
        await assertServing();
      });
    }

    test("bytes that are neither HTTP/1.1 nor HTTP/2 close that connection only", async () => {
      const closed = await new Promise<string>((resolve) => {
        const sock = netConnect(server.port, "127.0.0.1");
        let got = "";
        sock.on("data", (d: Buffer) => {
          got += d.toString("latin1");
        });
        sock.on("error", () => {});
        sock.on("close", () => resolve(got));
        sock.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0x00, 0x00, 0x00, 0x0d, 0x0a]));
        sock.write("\r\n\r\n");
        setTimeout(() => sock.destroy(), 5_000).unref();
      });
      // Whatever it answered (a 400 or nothing), it must not be a success.
      assert.doesNotMatch(closed, /^HTTP\/1\.1 2/);
      await assertServing();
    });

    const emptyKeys: { name: string; call: (c: EtcdClients) => Promise<unknown> }[] = [
      { name: "Put", call: (c) => c.kv.put({ value: bytes("v") }) },
      { name: "Range", call: (c) => c.kv.range({}) },
      { name: "DeleteRange", call: (c) => c.kv.deleteRange({}) },
      { name: "Txn put", call: (c) => c.kv.txn({ success: [putOp("")] }) },
      { name: "Txn range in failure", call: (c) => c.kv.txn({ failure: [rangeOp("")] }) },
      { name: "Txn compare", call: (c) => c.kv.txn({ compare: [versionIs("", 0n)] }) },
      {
        name: "nested Txn delete",
        call: (c) => c.kv.txn({ success: [txnOp({ success: [deleteOp("")] })] }),
      },
    ];
    for (const { name, call } of emptyKeys) {
      test(`empty key in ${name} → InvalidArgument "etcdserver: key is not provided"`, async () => {
        await expectConnectError(
          call(grpc),
          Code.InvalidArgument,
          "etcdserver: key is not provided",
        );
      });
    }

    test("a put whose raft entry just fits --max-request-bytes succeeds; one byte more is 'request is too large'", async () => {
      // etcd limits the raft entry: the request plus 17 bytes of envelope.
      // key "big" (3 bytes) → 1 + 1 + 3 bytes; value of n ≥ 2^14 bytes → 1 + 3 + n bytes.
      const fits = defaultMaxRequestBytes - 9 - 17;
      const req = create(PutRequestSchema, { key: bytes("big"), value: new Uint8Array(fits) });
      assert.equal(toBinary(PutRequestSchema, req).length + 17, defaultMaxRequestBytes);
      const ok = await grpc.kv.put(req);
      assert.ok((ok.header?.revision ?? 0n) > 1n);

      await expectConnectError(
        grpc.kv.put({ key: bytes("big"), value: new Uint8Array(fits + 1) }),
        Code.InvalidArgument,
        "etcdserver: request is too large",
      );
      await expectConnectError(
        grpc.kv.txn({ success: [putOp("big", "x".repeat(defaultMaxRequestBytes))] }),
        Code.InvalidArgument,
        "etcdserver: request is too large",
      );
      const stored = await grpc.kv.range({ key: bytes("big") });
      assert.equal(stored.kvs[0]?.value.length, fits, "the rejected writes changed nothing");
    });

    for (const protocol of protocols) {
      test(`${protocol}: a value over max + 512 KiB → ResourceExhausted; the next call works`, async () => {
        const c = etcdClients(transportFor(protocol, server.url));
        const value = new Uint8Array(defaultMaxRequestBytes + grpcOverhead + 1);
        const size = toBinary(
          PutRequestSchema,
          create(PutRequestSchema, { key: bytes("huge"), value }),
        ).length;
        // Deadlines keep a stuck connection from costing the server's 72 s
        // keep-alive timeout: the refusal is due at once.
        const refused = c.kv.put({ key: bytes("huge"), value }, { timeoutMs: 10_000 });
        if (protocol === "grpc-web") {
          // Over HTTP/1.1 the server answers before reading the whole body and
          // then closes the connection (the refused body cannot be skipped);
          // connect-node's HTTP/1.1 client, still writing, sometimes hits EPIPE
          // before it reads the ResourceExhausted answer. Either outcome is a
          // refusal; what must never happen is acceptance or a hang.
          const e = await refused.then(
            () => assert.fail("an oversized put was accepted"),
            (err: unknown) => ConnectError.from(err),
          );
          const epipe = e.code === Code.Internal && /EPIPE|ECONNRESET/.test(e.rawMessage);
          if (!epipe) {
            assert.equal(Code[e.code], Code[Code.ResourceExhausted]);
            assert.equal(
              e.rawMessage,
              tooBigMessage(protocol, size, defaultMaxRequestBytes + grpcOverhead),
            );
          }
        } else {
          await expectConnectError(
            refused,
            Code.ResourceExhausted,
            tooBigMessage(protocol, size, defaultMaxRequestBytes + grpcOverhead),
          );
        }
        // Over HTTP/1.1 the client reuses its keep-alive connection: the
        // server must either drain the refused body or close the connection
        // cleanly (Connection: close), not leave it stuck under the next request.
        const next = await c.kv.range({ key: bytes("huge") }, { timeoutMs: 10_000 }).then(
          (r) => r,
          (e: unknown) => ConnectError.from(e),
        );
        if (next instanceof ConnectError) {
          assert.fail(
            `the next call on the same client failed: [${Code[next.code]}] ${next.rawMessage}`,
          );
        }
        assert.equal(next.count, 0n, "nothing was stored");
        await assertServing();
      });
    }

    test("txn with 129 ops → 'too many operations in txn request'; 128 are fine", async () => {
      const ok = await grpc.kv.txn({ success: times(128, (i) => rangeOp(`ops/${i}`)) });
      assert.equal(ok.responses.length, 128);
      const nestedOk = await grpc.kv.txn({
        success: [
          txnOp({ success: times(28, (i) => rangeOp(`ops/n${i}`)) }),
          ...times(99, (i) => rangeOp(`ops/${i}`)),
        ],
      });
      assert.equal(nestedOk.responses.length, 100);
      const cases: TxnInit[] = [
        { success: times(129, (i) => rangeOp(`ops/${i}`)) },
        { failure: times(129, (i) => putOp(`ops/${i}`)) },
        { compare: times(129, (i) => versionIs(`ops/${i}`, 0n)) },
        // Nested txns share the outer budget: 100 outer ops leave 28 for the nested one.
        {
          success: [
            txnOp({ success: times(29, (i) => rangeOp(`ops/n${i}`)) }),
            ...times(99, (i) => rangeOp(`ops/${i}`)),
          ],
        },
      ];
      for (const req of cases) {
        await expectConnectError(
          grpc.kv.txn(req),
          Code.InvalidArgument,
          "etcdserver: too many operations in txn request",
        );
      }
    });

    test("duplicate keys in one txn branch → 'duplicate key given in txn request'", async () => {
      const dup: TxnInit[] = [
        { success: [putOp("dup/a", "1"), putOp("dup/a", "2")] },
        { failure: [putOp("dup/a"), deleteOp("dup/", prefixEnd("dup/"))] },
        { success: [deleteOp("dup/a"), putOp("dup/a")] },
        { success: [putOp("dup/a"), txnOp({ success: [putOp("dup/a")] })] },
      ];
      for (const req of dup) {
        await expectConnectError(
          grpc.kv.txn(req),
          Code.InvalidArgument,
          "etcdserver: duplicate key given in txn request",
        );
      }
      const allowed: TxnInit[] = [
        { success: [deleteOp("dup/a"), deleteOp("dup/a")] },
        { success: [putOp("dup/a", "s")], failure: [putOp("dup/a", "f")] },
        {
          success: [
            txnOp({
              compare: [versionIs("dup/a", 1n)],
              success: [putOp("dup/a", "then")],
              failure: [putOp("dup/a", "else")],
            }),
          ],
        },
      ];
      for (const req of allowed) {
        const r = await grpc.kv.txn(req);
        assert.equal(r.succeeded, true);
      }
      const now = await grpc.kv.range({ key: bytes("dup/a") });
      assert.equal(text(now.kvs[0]?.value ?? new Uint8Array()), "then");
    });

    const unimplemented: { name: string; call: (c: EtcdClients) => Promise<unknown> }[] = [
      { name: "Cluster.MemberAdd", call: (c) => c.cluster.memberAdd({ peerURLs: ["http://x:1"] }) },
      { name: "Cluster.MemberRemove", call: (c) => c.cluster.memberRemove({ ID: 1n }) },
      { name: "Cluster.MemberUpdate", call: (c) => c.cluster.memberUpdate({ ID: 1n }) },
      { name: "Cluster.MemberPromote", call: (c) => c.cluster.memberPromote({ ID: 1n }) },
    ];
    for (const { name, call } of unimplemented) {
      test(`${name} → Unimplemented over gRPC and Connect JSON`, async () => {
        await expectConnectError(
          call(grpc),
          Code.Unimplemented,
          `etcdserverpb.${name} is not implemented`,
        );
        const c = etcdClients(transportFor("connect-json", server.url));
        await expectConnectError(
          call(c),
          Code.Unimplemented,
          `etcdserverpb.${name} is not implemented`,
        );
      });
    }
  });
});

describe("limits from flags: --max-request-bytes 1024 --max-txn-ops 4", () => {
  let server: RunningServer;
  let kv: EtcdClients["kv"];
  const max = 1024;

  before(async () => {
    server = await startConclave({
      args: ["--max-request-bytes", String(max), "--max-txn-ops", "4"],
    });
    kv = etcdClients(transportFor("grpc", server.url)).kv;
  });

  after(async () => {
    const code = await server.stop();
    rmSync(server.dataDir, { recursive: true, force: true });
    assert.equal(code, 0, `conclave exited with ${code}:\n${server.output()}`);
  });

  test("puts whose raft entry fits 1024 bytes pass; larger ones are 'request is too large'", async () => {
    // etcd measures the raft entry: the request plus 17 bytes of envelope
    // (checked against a real etcd by the differential test).
    // key "k" → 3 bytes; value of 128..16383 bytes → 1 + 2 + n bytes.
    const fits = max - 6 - 17;
    const ok = await kv.put({ key: bytes("k"), value: new Uint8Array(fits) });
    assert.ok((ok.header?.revision ?? 0n) > 1n);
    await expectConnectError(
      kv.put({ key: bytes("k"), value: new Uint8Array(fits + 1) }),
      Code.InvalidArgument,
      "etcdserver: request is too large",
    );
    await expectConnectError(
      kv.txn({ success: [putOp("a", "x".repeat(600)), putOp("b", "y".repeat(600))] }),
      Code.InvalidArgument,
      "etcdserver: request is too large",
    );
    await expectConnectError(
      kv.deleteRange({ key: bytes("k".repeat(2000)) }),
      Code.InvalidArgument,
      "etcdserver: request is too large",
    );
  });

  test("a put over 1024 + 512 KiB → ResourceExhausted", async () => {
    const value = new Uint8Array(max + grpcOverhead);
    const size = toBinary(
      PutRequestSchema,
      create(PutRequestSchema, { key: bytes("k"), value }),
    ).length;
    await expectConnectError(
      kv.put({ key: bytes("k"), value }),
      Code.ResourceExhausted,
      tooBigMessage("grpc", size, max + grpcOverhead),
    );
    const stored = await kv.range({ key: bytes("k") });
    assert.equal(stored.kvs[0]?.value.length, max - 6 - 17, "still the last accepted value");
  });

  test("--max-txn-ops 4: 4 ops pass, 5 are rejected, nested txns share the budget", async () => {
    const four = await kv.txn({ success: times(4, (i) => putOp(`t/${i}`)) });
    assert.equal(four.responses.length, 4);
    for (const req of [
      { success: times(5, (i) => putOp(`t/${i}`)) },
      { failure: times(5, (i) => rangeOp(`t/${i}`)) },
      { compare: times(5, (i) => versionIs(`t/${i}`, 1n)) },
      // 3 outer ops leave a budget of 1 for the nested txn.
      { success: [txnOp({ success: [putOp("t/n1"), putOp("t/n2")] }), putOp("t/a"), putOp("t/b")] },
    ] as TxnInit[]) {
      await expectConnectError(
        kv.txn(req),
        Code.InvalidArgument,
        "etcdserver: too many operations in txn request",
      );
    }
    const nested = await kv.txn({
      success: [txnOp({ success: [putOp("t/n1")] }), putOp("t/a"), putOp("t/b")],
    });
    assert.equal(nested.responses.length, 3);
  });
});
