import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code } from "@connectrpc/connect";
import { errorBody, httpStatusFromCode, streamErrorChunk } from "./gateway-errors.js";
import { stringifyGoJson } from "./go-json.js";

describe("gateway errors", () => {
  it("maps codes to grpc-gateway v1's statuses", () => {
    assert.equal(httpStatusFromCode(Code.InvalidArgument), 400);
    assert.equal(httpStatusFromCode(Code.OutOfRange), 400);
    assert.equal(httpStatusFromCode(Code.NotFound), 404);
    assert.equal(httpStatusFromCode(Code.FailedPrecondition), 412);
    assert.equal(httpStatusFromCode(Code.ResourceExhausted), 429);
    assert.equal(httpStatusFromCode(Code.DeadlineExceeded), 504);
    assert.equal(httpStatusFromCode(Code.Canceled), 408);
    assert.equal(httpStatusFromCode(Code.Unimplemented), 501);
    assert.equal(httpStatusFromCode(Code.Unavailable), 503);
    assert.equal(httpStatusFromCode(Code.Unknown), 500);
  });

  it("writes etcd 3.4's bodies", () => {
    const e = { code: Code.NotFound, message: "etcdserver: requested lease not found" };
    assert.equal(
      errorBody(e),
      '{"error":"etcdserver: requested lease not found","message":"etcdserver: requested lease not found","code":5}',
    );
    assert.equal(
      streamErrorChunk({ code: Code.Unknown, message: "auth: user name is empty" }),
      '{"error":{"grpc_code":2,"http_code":500,"message":"auth: user name is empty","http_status":"Internal Server Error"}}',
    );
  });

  it("escapes strings as Go's encoding/json", () => {
    assert.equal(stringifyGoJson({ u: "<a>&\u2028é" }), '{"u":"\\u003ca\\u003e\\u0026\\u2028é"}');
  });
});
