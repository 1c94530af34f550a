import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createContextKey } from "@connectrpc/connect";
import {
  callContextKey,
  callContextOf,
  callContextValues,
  createCallContext,
} from "./call-context.js";
import { peerCommonNameKey } from "./peer-identity.js";

function newCall(peerCommonName: string | undefined) {
  return createCallContext({
    protocol: "grpc",
    service: "etcdserverpb.KV",
    method: "Put",
    requestHeader: new Headers({ authorization: "Bearer t1" }),
    peerCommonName,
    deadline: undefined,
    shutdownSignal: undefined,
    limits: { readMaxBytes: 0xffffffff, recursionLimit: undefined },
  });
}

describe("callContextValues", () => {
  it("holds the call and the verified CN, and other keys as Connect's context values do", () => {
    const call = newCall("alice");
    const values = callContextValues(call);
    assert.equal(values.get(callContextKey), call);
    assert.equal(callContextOf({ values }), call);
    assert.equal(values.get(peerCommonNameKey), "alice");
    const other = createContextKey<string | undefined>("fallback");
    assert.equal(values.get(other), "fallback", "a key never set reads its default");
    assert.equal(values.set(other, "set"), values, "set chains");
    assert.equal(values.get(other), "set");
    assert.equal(values.set(other, undefined).get(other), undefined, "undefined is a value");
    assert.equal(values.delete(other), values, "delete chains");
    assert.equal(values.get(other), "fallback", "a deleted key reads its default again");
    assert.equal(values.get(callContextKey), call, "other keys are untouched");
  });

  it("has no CN value without a verified certificate, and reads the token lazily", () => {
    const call = newCall(undefined);
    const values = callContextValues(call);
    assert.equal(values.get(peerCommonNameKey), peerCommonNameKey.defaultValue);
    assert.equal(call.credentials.token, "t1");
  });
});

describe("onEnd", () => {
  const call = (init: { deadline?: number; shutdown?: AbortSignal } = {}) =>
    createCallContext({
      protocol: "grpc",
      service: "etcdserverpb.Watch",
      method: "Watch",
      requestHeader: new Headers(),
      peerCommonName: undefined,
      deadline: init.deadline,
      shutdownSignal: init.shutdown,
      limits: { readMaxBytes: 0xffffffff, recursionLimit: undefined },
    });
  const ended = (c: ReturnType<typeof call>) => {
    const reasons: unknown[] = [];
    const stop = c.onEnd((r) => reasons.push(r));
    return { reasons, stop };
  };

  it("is told once, with the reason, when the call is aborted; and reports what the signal would", () => {
    const c = call();
    const a = ended(c);
    const b = ended(c);
    b.stop();
    c.abort("client left");
    c.abort("again");
    assert.deepEqual(a.reasons, ["client left"]);
    assert.deepEqual(b.reasons, [], "stopped listening");
    assert.equal(c.signal.reason, "client left", "a signal made later agrees");
    assert.deepEqual(ended(c).reasons, ["client left"], "after the end: at once");
  });

  it("is told at shutdown, and at once when shutdown came first", () => {
    const shutdown = new AbortController();
    const c = call({ shutdown: shutdown.signal });
    const a = ended(c);
    shutdown.abort("shutting down");
    assert.deepEqual(a.reasons, ["shutting down"]);
    c.abort("finished");
    assert.deepEqual(a.reasons, ["shutting down"], "once");
    assert.deepEqual(ended(call({ shutdown: shutdown.signal })).reasons, ["shutting down"]);
  });

  it("is told at the deadline, with the deadline's error", async () => {
    const c = call({ deadline: Date.now() + 20 });
    const a = ended(c);
    await new Promise((r) => setTimeout(r, 40));
    assert.equal(a.reasons.length, 1);
    assert.match(String(a.reasons[0]), /the operation timed out/);
  });

  it("a signal made after listening aborts too, and the listener is told once", () => {
    const c = call();
    const a = ended(c);
    const signal = c.signal;
    c.abort("bye");
    assert.equal(signal.aborted, true);
    assert.deepEqual(a.reasons, ["bye"]);
  });
});
