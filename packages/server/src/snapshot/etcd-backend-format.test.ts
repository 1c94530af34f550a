import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { etcdRevisionKey, parseEtcdRevisionKey } from "./etcd-backend-format.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("etcdRevisionKey", () => {
  // etcd's revToBytes: main and sub as big-endian int64 around '_' (0x5f), 't' after a tombstone.
  const cases = [
    { main: 1, sub: 0, tombstone: false, want: "0000000000000001_5f0000000000000000" },
    { main: 2, sub: 3, tombstone: true, want: "0000000000000002_5f0000000000000003_74" },
    {
      main: 0xffff_ffff,
      sub: 0x1_0000_0000,
      tombstone: false,
      want: "00000000ffffffff_5f0000000100000000",
    },
    { main: 2 ** 40 + 5, sub: 513, tombstone: false, want: "0000010000000005_5f0000000000000201" },
    {
      main: Number.MAX_SAFE_INTEGER,
      sub: 0,
      tombstone: true,
      want: "001fffffffffffff_5f0000000000000000_74",
    },
  ];
  for (const c of cases) {
    it(`${c.main}_${c.sub}${c.tombstone ? " (tombstone)" : ""}`, () => {
      const key = etcdRevisionKey(c.main, c.sub, c.tombstone);
      assert.equal(hex(key), c.want.replaceAll("_", ""));
      assert.deepEqual(parseEtcdRevisionKey(key), {
        main: c.main,
        sub: c.sub,
        tombstone: c.tombstone,
      });
    });
  }
});
