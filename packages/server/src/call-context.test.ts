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
