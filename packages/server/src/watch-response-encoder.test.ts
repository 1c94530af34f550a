import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import type { WatchEvent } from "@conclave/core";
import { WatchResponseSchema } from "@conclave/proto";
import { rememberedEncoding, rememberedEnvelope } from "./message-encoding.js";
import type { ServerContext } from "./server-context.js";
import { createWatchResponseEncoder } from "./watch-response-encoder.js";

const enc = new TextEncoder();
/** What fillHeader reads when given a revision: the IDs and the term. */
const ctx = {
  clusterId: 0xcdf818194e3a8c32n,
  memberId: 0x8e9e05c52164694dn,
  raftTerm: 2n,
} as ServerContext;
const kv = (key: string, rev: number, value = "v") => ({
  key: enc.encode(key),
  value: enc.encode(value),
  createRevision: 2n,
  modRevision: BigInt(rev),
  version: BigInt(rev - 1),
  lease: 0n,
});

describe("watch response encoder", () => {
  const put: WatchEvent = { type: "put", kv: kv("a", 5, "x".repeat(300)), prevKv: kv("a", 4) };
  const del: WatchEvent = { type: "delete", kv: { ...kv("b", 5, ""), value: new Uint8Array() } };
  // [what, revision, watch id, events, prev_kv]
  const table: [string, number, bigint, WatchEvent[], boolean][] = [
    ["one put", 5, 0n, [put], false],
    ["one put with prev_kv", 5, 1n, [put], true],
    ["a put and a delete, a large id", 5, 2n ** 40n, [put, del], false],
    ["many events", 7, 300n, [put, del, put, del, put], true],
    ["a revision past 2^31", 2 ** 31 + 5, 9n, [del], false],
  ];
  it("remembers exactly the bytes toBinary gives for the response", () => {
    const encoder = createWatchResponseEncoder(ctx);
    for (const [what, rev, id, events, withPrev] of table) {
      for (let round = 0; round < 2; round++) {
        // The second round is built from the cached parts.
        const resp = encoder.events(rev, id, encoder.watchIdPart(id), events, withPrev);
        const bytes = toBinary(WatchResponseSchema, resp);
        assert.deepEqual(new Uint8Array(rememberedEncoding(resp) ?? []), bytes, what);
        // Enveloped: flags 0, the length big-endian, the message.
        const envelope = rememberedEnvelope(resp) ?? new Uint8Array();
        assert.deepEqual(
          [...envelope.subarray(0, 5)],
          [
            0,
            bytes.length >>> 24,
            (bytes.length >>> 16) & 255,
            (bytes.length >>> 8) & 255,
            bytes.length & 255,
          ],
          what,
        );
        assert.equal(envelope.length, 5 + bytes.length, what);
        // Invisible to deep equality: a response equals the same message made by hand.
        assert.deepStrictEqual(
          resp,
          create(WatchResponseSchema, {
            header: resp.header,
            watchId: resp.watchId,
            events: resp.events,
          }),
          what,
        );
        assert.equal(resp.header?.revision, BigInt(rev), what);
        assert.equal(resp.watchId, id, what);
        assert.equal(resp.events.length, events.length, what);
        assert.equal(resp.events[0]?.prevKv !== undefined, withPrev && events[0] === put, what);
      }
    }
  });

  it("shares each event's message between watchers of the same revision", () => {
    const encoder = createWatchResponseEncoder(ctx);
    const a = encoder.events(5, 1n, encoder.watchIdPart(1n), [put], false);
    const b = encoder.events(5, 2n, encoder.watchIdPart(2n), [put], false);
    assert.equal(a.events[0], b.events[0]);
    assert.equal(a.header, b.header);
    assert.notDeepEqual(rememberedEncoding(a), rememberedEncoding(b));
  });
});
