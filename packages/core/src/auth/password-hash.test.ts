import assert from "node:assert/strict";
import { describe, it } from "node:test";
import bcrypt from "bcryptjs";
import { etcdPasswordHash, hashPassword, verifyPassword } from "./password-hash.js";

describe("password hashes", () => {
  it("verifies its own scrypt hashes", async () => {
    const h = await hashPassword("pw", { N: 16, r: 1, p: 1 });
    assert.equal(await verifyPassword("pw", h), true);
    assert.equal(await verifyPassword("nope", h), false);
  });

  it("keeps a bcrypt hash at the given cost beside the scrypt one, for etcd", async () => {
    const h = await hashPassword("pw", { N: 16, r: 1, p: 1 }, 5);
    const etcd = etcdPasswordHash(h);
    assert.match(etcd, /^\$2a\$05\$[./A-Za-z0-9]{53}$/);
    assert.equal(bcrypt.compareSync("pw", etcd), true);
    assert.equal(bcrypt.compareSync("nope", etcd), false);
    assert.equal(h.startsWith("scrypt$16$1$1$"), true);
  });

  const scryptOnly = "scrypt$16$1$1$AAAAAAAAAAAAAAAAAAAAAA==$";
  const etcdCases = [
    { name: "etcd's own bcrypt, as restored", hash: "$2a$10$abc", want: "$2a$10$abc" },
    { name: "ours, scrypt then bcrypt", hash: `${scryptOnly}x|$2b$04$abc`, want: "$2b$04$abc" },
    { name: "ours from before the bcrypt half: none", hash: `${scryptOnly}x`, want: "" },
    { name: "no password", hash: "", want: "" },
  ];
  for (const c of etcdCases) {
    it(`the hash etcd gets: ${c.name}`, () => {
      assert.equal(etcdPasswordHash(c.hash), c.want);
    });
  }

  it("verifies scrypt hashes stored before the bcrypt half was kept", async () => {
    const h = await hashPassword("pw", { N: 16, r: 1, p: 1 }, 4);
    const before = h.slice(0, h.indexOf("|"));
    assert.equal(await verifyPassword("pw", before), true);
    assert.equal(await verifyPassword("nope", before), false);
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
