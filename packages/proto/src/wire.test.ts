// Wire/JSON compatibility checks for the etcd protos. Expected bytes are
// derived by hand from etcd's field numbers and types (tag = field << 3 | wire
// type; varint = 0, length-delimited = 2), so a renumbered or retyped field
// fails here even though the generated code would still compile.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { create, fromBinary, fromJson, toBinary, toJson } from "@bufbuild/protobuf";
import {
  type Compare,
  Compare_CompareResult,
  Compare_CompareTarget,
  CompareSchema,
  Election,
  Event_EventType,
  EventSchema,
  KeyValueSchema,
  KV,
  LeaderKeySchema,
  Lease,
  LeaseGrantRequestSchema,
  LeaseGrantResponseSchema,
  LeaseTimeToLiveResponseSchema,
  Lock,
  LockRequestSchema,
  Maintenance,
  MemberSchema,
  Permission_Type,
  PermissionSchema,
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
  RangeRequestSchema,
  ResponseHeaderSchema,
  StatusResponseSchema,
  TxnRequestSchema,
  Watch,
  WatchRequestSchema,
  WatchResponseSchema,
} from "./index.js";

const enc = new TextEncoder();
const hex = (b: Uint8Array) =>
  Buffer.from(b)
    .toString("hex")
    .replace(/(..)(?!$)/g, "$1 ");

describe("binary encoding matches etcd field numbers", () => {
  test("RangeRequest key=1 range_end=2 limit=3", () => {
    const m = create(RangeRequestSchema, {
      key: enc.encode("a"),
      rangeEnd: enc.encode("b"),
      limit: 5n,
    });
    assert.equal(hex(toBinary(RangeRequestSchema, m)), "0a 01 61 12 01 62 18 05");
  });

  test("RangeRequest fields 4..13", () => {
    const m = create(RangeRequestSchema, {
      revision: 4n,
      sortOrder: RangeRequest_SortOrder.DESCEND,
      sortTarget: RangeRequest_SortTarget.MOD,
      serializable: true,
      keysOnly: true,
      countOnly: true,
      minModRevision: 10n,
      maxModRevision: 11n,
      minCreateRevision: 12n,
      maxCreateRevision: 13n,
    });
    assert.equal(
      hex(toBinary(RangeRequestSchema, m)),
      "20 04 28 02 30 03 38 01 40 01 48 01 50 0a 58 0b 60 0c 68 0d",
    );
  });

  test("ResponseHeader uint64/uint64/int64/uint64 at 1..4", () => {
    const m = create(ResponseHeaderSchema, {
      clusterId: 300n,
      memberId: 2n,
      revision: 3n,
      raftTerm: 4n,
    });
    assert.equal(hex(toBinary(ResponseHeaderSchema, m)), "08 ac 02 10 02 18 03 20 04");
    // revision is a plain int64 (not sint64): -1 is a 10-byte varint.
    const neg = create(ResponseHeaderSchema, { revision: -1n });
    assert.equal(hex(toBinary(ResponseHeaderSchema, neg)), "18 ff ff ff ff ff ff ff ff ff 01");
    // uint64 IDs above 2^63 survive a round trip.
    const big = create(ResponseHeaderSchema, { clusterId: 0xfedcba9876543210n });
    assert.equal(
      fromBinary(ResponseHeaderSchema, toBinary(ResponseHeaderSchema, big)).clusterId,
      0xfedcba9876543210n,
    );
  });

  test("KeyValue fields 1..6 and Event", () => {
    const kv = create(KeyValueSchema, {
      key: enc.encode("a"),
      createRevision: 2n,
      modRevision: 3n,
      version: 1n,
      value: enc.encode("b"),
      lease: 7n,
    });
    assert.equal(hex(toBinary(KeyValueSchema, kv)), "0a 01 61 10 02 18 03 20 01 2a 01 62 30 07");
    const ev = create(EventSchema, {
      type: Event_EventType.DELETE,
      prevKv: { key: enc.encode("a") },
    });
    assert.equal(hex(toBinary(EventSchema, ev)), "08 01 1a 03 0a 01 61");
  });

  test("Compare: value oneof at 7, range_end at 64", () => {
    const m = create(CompareSchema, {
      result: Compare_CompareResult.EQUAL,
      target: Compare_CompareTarget.VALUE,
      key: enc.encode("k"),
      targetUnion: { case: "value", value: enc.encode("v") },
      rangeEnd: enc.encode("z"),
    });
    // result EQUAL=0 is omitted; 64<<3|2 = 514 = varint 82 04.
    assert.equal(hex(toBinary(CompareSchema, m)), "10 03 1a 01 6b 3a 01 76 82 04 01 7a");
  });

  test("Compare: a zero oneof member is still written (create_revision=5)", () => {
    const m = create(CompareSchema, {
      target: Compare_CompareTarget.CREATE,
      key: enc.encode("k"),
      targetUnion: { case: "createRevision", value: 0n },
    });
    assert.equal(hex(toBinary(CompareSchema, m)), "10 01 1a 01 6b 28 00");
    const back = fromBinary(CompareSchema, toBinary(CompareSchema, m));
    assert.deepEqual(back.targetUnion, { case: "createRevision", value: 0n });
  });

  test("Compare: version=4, mod_revision=6, lease=8, NOT_EQUAL=3", () => {
    const at = (targetUnion: Compare["targetUnion"]) =>
      hex(
        toBinary(
          CompareSchema,
          create(CompareSchema, { result: Compare_CompareResult.NOT_EQUAL, targetUnion }),
        ),
      );
    assert.equal(at({ case: "version", value: 1n }), "08 03 20 01");
    assert.equal(at({ case: "modRevision", value: 1n }), "08 03 30 01");
    assert.equal(at({ case: "lease", value: 1n }), "08 03 40 01");
  });

  test("TxnRequest success=2 with RequestOp request_put=2", () => {
    const m = create(TxnRequestSchema, {
      success: [
        {
          request: { case: "requestPut", value: { key: enc.encode("a"), value: enc.encode("b") } },
        },
      ],
    });
    assert.equal(hex(toBinary(TxnRequestSchema, m)), "12 08 12 06 0a 01 61 12 01 62");
  });

  test("WatchRequest oneof: create=1, cancel=2, progress=3", () => {
    const createReq = create(WatchRequestSchema, {
      requestUnion: {
        case: "createRequest",
        value: { key: enc.encode("foo"), startRevision: 10n, prevKv: true, fragment: true },
      },
    });
    assert.equal(
      hex(toBinary(WatchRequestSchema, createReq)),
      "0a 0b 0a 03 66 6f 6f 18 0a 30 01 40 01",
    );
    const cancel = create(WatchRequestSchema, {
      requestUnion: { case: "cancelRequest", value: { watchId: 7n } },
    });
    assert.equal(hex(toBinary(WatchRequestSchema, cancel)), "12 02 08 07");
    const progress = create(WatchRequestSchema, {
      requestUnion: { case: "progressRequest", value: {} },
    });
    assert.equal(hex(toBinary(WatchRequestSchema, progress)), "1a 00");
  });

  test("WatchResponse events at field 11", () => {
    const m = create(WatchResponseSchema, {
      watchId: 1n,
      fragment: true,
      events: [{ type: Event_EventType.PUT, kv: { key: enc.encode("a") } }],
    });
    assert.equal(hex(toBinary(WatchResponseSchema, m)), "10 01 38 01 5a 05 12 03 0a 01 61");
  });

  test("Lease: TTL=1 ID=2 in the request, ID=2 TTL=3 in the response", () => {
    const req = create(LeaseGrantRequestSchema, { TTL: 60n, ID: 1n });
    assert.equal(hex(toBinary(LeaseGrantRequestSchema, req)), "08 3c 10 01");
    const resp = create(LeaseGrantResponseSchema, { ID: 0x1234n, TTL: 60n });
    assert.equal(hex(toBinary(LeaseGrantResponseSchema, resp)), "10 b4 24 18 3c");
  });

  test("Member and StatusResponse", () => {
    const member = create(MemberSchema, {
      ID: 1n,
      peerURLs: ["x"],
      clientURLs: ["y"],
      isLearner: true,
    });
    assert.equal(hex(toBinary(MemberSchema, member)), "08 01 1a 01 78 22 01 79 28 01");
    const status = create(StatusResponseSchema, {
      raftAppliedIndex: 7n,
      dbSizeInUse: 9n,
      isLearner: true,
    });
    assert.equal(hex(toBinary(StatusResponseSchema, status)), "38 07 48 09 50 01");
  });

  test("authpb.Permission, v3lock and v3election messages", () => {
    const perm = create(PermissionSchema, {
      permType: Permission_Type.READWRITE,
      key: enc.encode("a"),
    });
    assert.equal(hex(toBinary(PermissionSchema, perm)), "08 02 12 01 61");
    const lock = create(LockRequestSchema, { name: enc.encode("l"), lease: 5n });
    assert.equal(hex(toBinary(LockRequestSchema, lock)), "0a 01 6c 10 05");
    const lk = create(LeaderKeySchema, {
      name: enc.encode("e"),
      key: enc.encode("k"),
      rev: 3n,
      lease: 4n,
    });
    assert.equal(hex(toBinary(LeaderKeySchema, lk)), "0a 01 65 12 01 6b 18 03 20 04");
  });
});

describe("JSON names", () => {
  test("default toJson uses proto3 JSON names (lowerCamel, etcd's casing kept)", () => {
    const kv = create(KeyValueSchema, {
      key: enc.encode("foo"),
      createRevision: 2n,
      modRevision: 3n,
    });
    assert.deepEqual(toJson(KeyValueSchema, kv), {
      key: "Zm9v",
      createRevision: "2",
      modRevision: "3",
    });
    const ttl = create(LeaseTimeToLiveResponseSchema, { ID: 5n, TTL: 10n, grantedTTL: 60n });
    assert.deepEqual(toJson(LeaseTimeToLiveResponseSchema, ttl), {
      ID: "5",
      TTL: "10",
      grantedTTL: "60",
    });
    const member = create(MemberSchema, {
      ID: 1n,
      peerURLs: ["p"],
      clientURLs: ["c"],
      isLearner: true,
    });
    assert.deepEqual(toJson(MemberSchema, member), {
      ID: "1",
      peerURLs: ["p"],
      clientURLs: ["c"],
      isLearner: true,
    });
  });

  test("useProtoFieldName matches etcd's gateway output; both spellings parse", () => {
    const hdr = create(ResponseHeaderSchema, { clusterId: 1n, revision: 2n, raftTerm: 3n });
    assert.deepEqual(toJson(ResponseHeaderSchema, hdr, { useProtoFieldName: true }), {
      cluster_id: "1",
      revision: "2",
      raft_term: "3",
    });
    const a = fromJson(KeyValueSchema, { create_revision: "2" });
    const b = fromJson(KeyValueSchema, { createRevision: "2" });
    assert.equal(a.createRevision, 2n);
    assert.equal(b.createRevision, 2n);
    const cmp = fromJson(CompareSchema, { target: "VALUE", result: "NOT_EQUAL", value: "Zm9v" });
    assert.equal(cmp.target, Compare_CompareTarget.VALUE);
    assert.equal(cmp.targetUnion.case, "value");
  });
});

describe("service descriptors", () => {
  test("fully-qualified names and streaming kinds", () => {
    assert.equal(KV.typeName, "etcdserverpb.KV");
    assert.equal(KV.method.range.name, "Range");
    assert.equal(KV.method.compact.input.typeName, "etcdserverpb.CompactionRequest");
    assert.equal(Watch.typeName, "etcdserverpb.Watch");
    assert.equal(Watch.method.watch.methodKind, "bidi_streaming");
    assert.equal(Lease.method.leaseKeepAlive.methodKind, "bidi_streaming");
    assert.equal(Lease.method.leaseLeases.methodKind, "unary");
    assert.equal(Maintenance.method.snapshot.methodKind, "server_streaming");
    assert.equal(Maintenance.method.hashKV.name, "HashKV");
    assert.equal(Lock.typeName, "v3lockpb.Lock");
    assert.equal(Election.typeName, "v3electionpb.Election");
    assert.equal(Election.method.observe.methodKind, "server_streaming");
    assert.equal(Election.method.observe.input.typeName, "v3electionpb.LeaderRequest");
  });
});
