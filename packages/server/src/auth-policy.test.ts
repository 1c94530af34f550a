// The policy table and the services cannot drift apart: every method of
// every registered service has exactly one entry, the table names no method
// that does not exist, and "unimplemented" is said of exactly the methods
// Conclave leaves out.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { DescService } from "@bufbuild/protobuf";
import { KV } from "@conclave/proto";
import type { ConnectRouter } from "@connectrpc/connect";
import { authPolicy } from "./auth-policy.js";
import { createRoutes } from "./routes.js";
import { closeServerContext, openServerContext, type ServerContext } from "./server-context.js";
import { withAuthPolicy } from "./with-auth-policy.js";

let ctx: ServerContext;
const registered: Array<{ service: DescService; impl: Record<string, unknown> }> = [];

before(async () => {
  ctx = await openServerContext({ dataDir: ":memory:" });
  const recorder = {
    service(service: DescService, impl: Record<string, unknown>) {
      registered.push({ service, impl });
      return recorder;
    },
  };
  createRoutes(ctx)(recorder as unknown as ConnectRouter);
});
after(async () => {
  await closeServerContext(ctx);
});

describe("the auth policy table", () => {
  it("has an entry for every registered service, and no other", () => {
    assert.deepEqual(
      registered.map((r) => r.service.typeName).sort(),
      [...authPolicy.keys()].sort(),
    );
  });

  it("names each method of each service exactly once", () => {
    for (const { service } of registered) {
      assert.deepEqual(
        Object.keys(authPolicy.get(service.typeName) ?? {}).sort(),
        service.methods.map((m) => m.localName).sort(),
        service.typeName,
      );
    }
  });

  it('says "unimplemented" of exactly the methods without an implementation', () => {
    for (const { service, impl } of registered) {
      const needs = authPolicy.get(service.typeName) ?? {};
      for (const m of service.methods) {
        assert.equal(
          needs[m.localName] === "unimplemented",
          typeof impl[m.localName] !== "function",
          `${service.typeName}/${m.name}`,
        );
      }
    }
  });

  it("refuses to register a service it has no policy for, or an unexpected method", () => {
    const unknown = { ...KV, typeName: "example.Unknown" } as DescService;
    assert.throws(() => withAuthPolicy(ctx, unknown, {}), /no auth policy for example\.Unknown/);
  });
});
