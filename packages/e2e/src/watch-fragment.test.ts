import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  Event_EventType,
  KV,
  type RequestOp,
  Watch,
  type WatchRequest,
  type WatchResponse,
} from "@conclave/proto";
import { type RunningServer, startConclave } from "@conclave/testkit";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";

// etcd fragments a watch response at --max-request-bytes + 512 KiB. With a
// 64 KiB limit, deleting 800 keys of 1 KiB in one DeleteRange, watched with
// prev_kv, makes one revision of ~840 KB: over the 576 KiB threshold.
let server: RunningServer;
before(async () => {
  server = await startConclave({ args: ["--max-request-bytes", "65536"] });
});
after(() => server.stop());

const enc = new TextEncoder();
const keys = 800;

async function deleteRevisionAsWatched(
  prefix: string,
  fragment: boolean,
): Promise<WatchResponse[]> {
  const t = createGrpcTransport({ baseUrl: server.url });
  const kv = createClient(KV, t);
  const watch = createClient(Watch, t);
  const key = enc.encode(prefix);
  const end = enc.encode(`${prefix.slice(0, -1)}0`); // "p/" → "p0"
  for (let i = 0; i < keys; i += 50) {
    const success: RequestOp[] = [];
    for (let j = i; j < i + 50; j++) {
      success.push({
        request: {
          case: "requestPut",
          value: {
            key: enc.encode(`${prefix}${String(j).padStart(4, "0")}`),
            value: new Uint8Array(1024),
          },
        },
      } as RequestOp);
    }
    await kv.txn({ success });
  }
  const abort = new AbortController();
  const requests = (async function* (): AsyncGenerator<WatchRequest> {
    yield {
      requestUnion: {
        case: "createRequest",
        value: { key, rangeEnd: end, prevKv: true, fragment },
      },
    } as WatchRequest;
    await new Promise<void>((resolve) => abort.signal.addEventListener("abort", () => resolve()));
  })();
  const out: WatchResponse[] = [];
  let deleted = 0;
  try {
    for await (const r of watch.watch(requests, { signal: abort.signal })) {
      if (r.created) {
        const d = await kv.deleteRange({ key, rangeEnd: end });
        assert.equal(d.deleted, BigInt(keys));
        continue;
      }
      out.push(r);
      deleted += r.events.filter((e) => e.type === Event_EventType.DELETE).length;
      if (deleted === keys) break;
    }
  } finally {
    abort.abort();
  }
  return out;
}

describe("watch fragment (etcd's sendFragments)", () => {
  it("sends one big revision whole without fragment", async () => {
    const rs = await deleteRevisionAsWatched("whole/", false);
    assert.equal(rs.length, 1);
    assert.equal(rs[0]?.fragment, false);
    assert.equal(rs[0]?.events.length, keys);
    assert.ok(rs[0]?.events.every((e) => e.prevKv?.value.length === 1024));
  });

  it("splits it when asked: every part but the last is marked fragment, events in order", async () => {
    const rs = await deleteRevisionAsWatched("split/", true);
    assert.ok(rs.length >= 2, `${rs.length} responses`);
    assert.deepEqual(
      rs.map((r) => r.fragment),
      rs.map((_, i) => i < rs.length - 1),
    );
    const evs = rs.flatMap((r) => r.events);
    assert.equal(evs.length, keys);
    const names = evs.map((e) => new TextDecoder().decode(e.kv?.key));
    assert.deepEqual(names, [...names].sort());
    assert.equal(new Set(evs.map((e) => e.kv?.modRevision)).size, 1);
  });
});
