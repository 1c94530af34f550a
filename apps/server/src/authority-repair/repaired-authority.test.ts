import * as assert from "node:assert/strict";
import { describe, it } from "node:test";
import { repairedAuthority } from "./repaired-authority.js";

describe("repairedAuthority", () => {
  it("keeps host and port, and the length, by padding the port with zeros", () => {
    const cases: [string, string | undefined][] = [
      ["http://127.0.0.1:2379", "127.0.0.1:00000002379"],
      ["https://127.0.0.1:2379", "127.0.0.1:000000002379"],
      ["HTTP://localhost:2379", "localhost:00000002379"],
      ["http://[::1]:2379", "[::1]:00000002379"],
      ["http://127.0.0.1:2379/", "127.0.0.1:000000002379"],
      ["http://h", "h:000080"],
      ["https://h", "h:0000443"],
      ["unix://h", undefined], // no port to give it
      ["127.0.0.1:2379", undefined],
      ["localhost", undefined],
      ["http://", undefined],
    ];
    for (const [value, want] of cases) {
      const got = repairedAuthority(value);
      assert.equal(got, want, value);
      if (got !== undefined) {
        assert.equal(got.length, value.length, value);
        const url = new URL(value);
        const port = url.port || (url.protocol === "https:" ? "443" : "80");
        assert.equal(Number(new URL(`http://${got}/`).port || "80"), Number(port), value);
      }
    }
  });
});
