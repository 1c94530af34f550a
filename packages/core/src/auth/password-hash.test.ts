import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { hashPassword, verifyPassword } from "./password-hash.js";

describe("password hashes", () => {
  it("verifies its own scrypt hashes", async () => {
    const h = await hashPassword("pw", { N: 16, r: 1, p: 1 });
    assert.equal(await verifyPassword("pw", h), true);
    assert.equal(await verifyPassword("nope", h), false);
  });

  // OpenBSD's bcrypt test vector, in the $2a$ form etcd (golang.org/x/crypto/bcrypt) stores.
  const cases = [
    {
      password: "U*U",
      hash: "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
      ok: true,
    },
    {
      password: "U*V",
      hash: "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
      ok: false,
    },
    {
      password: "",
      hash: "$2a$05$CCCCCCCCCCCCCCCCCCCCC.7uG0VCzI2bS7j6ymqJi9CdcdxiRTWNy",
      ok: true,
    },
    { password: "x", hash: "not a hash", ok: false },
  ];
  for (const c of cases) {
    it(`verifies etcd's bcrypt hashes: ${JSON.stringify(c.password)} → ${c.ok}`, async () => {
      assert.equal(await verifyPassword(c.password, c.hash), c.ok);
    });
  }
});
