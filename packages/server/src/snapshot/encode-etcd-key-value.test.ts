import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import type { KeyValue } from "@conclave/core";
import { KeyValueSchema } from "@conclave/proto";
import { encodeEtcdKeyValue } from "./encode-etcd-key-value.js";

const enc = new TextEncoder();
const kv = (over: Partial<KeyValue>): KeyValue => ({
  key: enc.encode("k"),
  createRevision: 2n,
  modRevision: 3n,
  version: 1n,
  value: enc.encode("v"),
  lease: 0n,
  ...over,
});

describe("encodeEtcdKeyValue", () => {
  const cases: Array<{ name: string; kv: KeyValue }> = [
    { name: "a small put", kv: kv({}) },
    {
      name: "a tombstone: key only",
      kv: kv({ createRevision: 0n, modRevision: 0n, version: 0n, value: new Uint8Array(0) }),
    },
    { name: "empty key and value", kv: kv({ key: new Uint8Array(0), value: new Uint8Array(0) }) },
    { name: "a lease", kv: kv({ lease: 0x694d7d1c2b3a4f5an }) },
    { name: "the largest lease ID", kv: kv({ lease: 2n ** 63n - 1n }) },
    { name: "a negative int64 (ten bytes)", kv: kv({ lease: -1n, version: -5n }) },
    {
      name: "varint edges",
      kv: kv({ createRevision: 127n, modRevision: 128n, version: 16383n, lease: 16384n }),
    },
    {
      name: "revisions past 2^53",
      kv: kv({ modRevision: 2n ** 53n + 1n, createRevision: 2n ** 62n }),
    },
    {
      name: "a 200 KiB value (3-byte length)",
      kv: kv({ value: new Uint8Array(200 * 1024).fill(7) }),
    },
    { name: "a 128-byte key (2-byte length)", kv: kv({ key: new Uint8Array(128).fill(0xff) }) },
  ];
  for (const c of cases) {
    it(`writes what protobuf-es writes: ${c.name}`, () => {
      assert.deepEqual(
        encodeEtcdKeyValue(c.kv),
        toBinary(KeyValueSchema, create(KeyValueSchema, c.kv)),
      );
    });
  }
});
