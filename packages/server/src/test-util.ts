import assert from "node:assert/strict";
import { type Code, ConnectError } from "@connectrpc/connect";

/** Test helper: `p` rejects with exactly this code and etcd text (the error table's). */
export async function expectError(p: Promise<unknown>, code: Code, message: string) {
  await assert.rejects(p, (e) => {
    const ce = ConnectError.from(e);
    assert.equal(ce.rawMessage, message);
    assert.equal(ce.code, code, `code of "${message}"`);
    return true;
  });
}
