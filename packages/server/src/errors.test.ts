import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { errCompacted, errInvalidAuthToken, errPermissionDenied } from "@conclave/core";
import { Code, ConnectError } from "@connectrpc/connect";
import { errElectionNoLeader } from "./concurrency.js";
import {
  cancelReasonOf,
  errEmptyKey,
  errorFlavourOf,
  MessageTooLargeError,
  toConnectError,
  ValidationError,
} from "./errors.js";

describe("the error table", () => {
  const cases: Array<[string, unknown, Parameters<typeof toConnectError>[1], Code, string]> = [
    [
      "a sentinel",
      errCompacted,
      "status",
      Code.OutOfRange,
      "etcdserver: mvcc: required revision has been compacted",
    ],
    [
      "a sentinel, plain",
      errPermissionDenied,
      "plain",
      Code.Unknown,
      "etcdserver: permission denied",
    ],
    [
      "an auth error, plainAuth",
      errPermissionDenied,
      "plainAuth",
      Code.Unknown,
      "auth: permission denied",
    ],
    [
      "a bad token, plainAuth",
      errInvalidAuthToken,
      "plainAuth",
      Code.Unknown,
      "auth: invalid auth token",
    ],
    [
      "a non-auth error, plainAuth",
      errCompacted,
      "plainAuth",
      Code.OutOfRange,
      "etcdserver: mvcc: required revision has been compacted",
    ],
    ["a recipe error", errElectionNoLeader, "status", Code.Unknown, "election: no leader"],
    [
      "a validation error",
      new ValidationError("conclave: watch range is empty"),
      "status",
      Code.InvalidArgument,
      "conclave: watch range is empty",
    ],
    [
      "a size error",
      new MessageTooLargeError(10, 5),
      "status",
      Code.ResourceExhausted,
      "grpc: received message larger than max (10 vs. 5)",
    ],
    [
      "a ConnectError as it is",
      new ConnectError("gone", Code.Unavailable),
      "plain",
      Code.Unavailable,
      "gone",
    ],
    ["anything else", new Error("boom"), "status", Code.Unknown, "etcdserver: internal error"],
  ];
  for (const [name, err, flavour, code, message] of cases) {
    it(name, () => {
      const c = toConnectError(err, flavour);
      assert.equal(c.code, code);
      assert.equal(c.rawMessage, message);
    });
  }

  it("declares flavours per service and per method", () => {
    assert.equal(errorFlavourOf("v3lockpb.Lock", "Unlock"), "plain");
    assert.equal(errorFlavourOf("v3electionpb.Election", "Observe"), "plain");
    assert.equal(errorFlavourOf("etcdserverpb.Maintenance", "Snapshot"), "plainAuth");
    assert.equal(errorFlavourOf("etcdserverpb.Maintenance", "Status"), "status");
    assert.equal(errorFlavourOf("etcdserverpb.KV", "Range"), "status");
  });

  it("words watch refusals as Go's status text", () => {
    assert.equal(
      cancelReasonOf(errPermissionDenied),
      "rpc error: code = PermissionDenied desc = etcdserver: permission denied",
    );
    assert.equal(
      cancelReasonOf(errEmptyKey),
      "rpc error: code = InvalidArgument desc = etcdserver: key is not provided",
    );
  });
});
