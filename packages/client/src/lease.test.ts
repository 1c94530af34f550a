import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type ConclaveClient, createConclaveClient } from "./conclave-client.js";
import type { LeaseEndedError } from "./lease.js";
import { type InProcessServer, startInProcessServer, tick } from "./test/in-process-server.js";

let server: InProcessServer;
let client: ConclaveClient;
before(async () => {
  server = await startInProcessServer();
  client = createConclaveClient(server.transport, { backoff: { initialMs: 20, maxMs: 100 } });
});
after(async () => {
  client.close();
  await server.close();
});

describe("leases", () => {
  it("keep themselves alive past their TTL with KeepAliveOnce at TTL/3", async () => {
    const lease = await client.grantLease(2); // the server's minimum TTL
    await client.put("alive", "x", { lease });
    const before = server.opened.unary;
    await tick(3000);
    assert.ok(server.opened.unary - before >= 3, `renewals: ${server.opened.unary - before}`);
    assert.equal((await client.get("alive"))?.lease, lease.id);
    assert.equal(lease.signal.aborted, false);
    const left = await lease.timeToLive();
    assert.ok(left.ttl >= 1, `ttl ${left.ttl}`);
    await lease.revoke();
    assert.equal(lease.signal.aborted, true);
    assert.equal((lease.signal.reason as LeaseEndedError).reason, "revoked");
    assert.equal(await client.get("alive"), undefined);
  });

  it("report loss when no renewal gets through before the TTL runs out", async () => {
    const lost: LeaseEndedError[] = [];
    const lease = await client.grantLease(2, { onLost: (e) => lost.push(e) });
    server.setDown(true);
    try {
      await tick(2600);
      assert.equal(lost.length, 1);
      assert.equal(lost[0]?.reason, "unreachable");
      assert.equal(lease.signal.aborted, true);
    } finally {
      server.setDown(false);
    }
    // The server expired it too: renewing now says so.
    await tick(300);
    assert.equal((await lease.timeToLive()).ttl, -1);
  });

  it("report loss when the server says the lease is gone", async () => {
    const lost: LeaseEndedError[] = [];
    const lease = await client.grantLease(30, { onLost: (e) => lost.push(e) });
    await client.services.lease.leaseRevoke({ ID: lease.id }); // revoked by someone else
    assert.equal(await lease.keepAliveOnce(), 0);
    assert.deepEqual(
      lost.map((e) => [e.reason, e.leaseId]),
      [["expired", lease.id]],
    );
    await lease.revoke(); // already gone: not an error
  });

  it("close() stops renewing without revoking; so does client.close()", async () => {
    const lease = await client.grantLease(30);
    lease.close();
    assert.equal((lease.signal.reason as LeaseEndedError).reason, "closed");
    assert.ok((await lease.timeToLive()).ttl > 0);
    const other = createConclaveClient(server.transport);
    const l2 = await other.grantLease(30);
    other.close();
    assert.equal((l2.signal.reason as LeaseEndedError).reason, "closed");
    await client.services.lease.leaseRevoke({ ID: lease.id });
    await client.services.lease.leaseRevoke({ ID: l2.id });
  });
});
