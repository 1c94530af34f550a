import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { b } from "../test-util.js";
import {
  covers,
  type KeyPermission,
  mergePermissions,
  PermissionType,
  toInterval,
} from "./permission-ranges.js";

const { READ, WRITE, READWRITE } = PermissionType;
const perm = (permType: PermissionType, key: string, rangeEnd = ""): KeyPermission => ({
  permType,
  key: b(key),
  rangeEnd: b(rangeEnd),
});
const z = "\0";

/** [granted permissions, request key, request range_end, access, allowed?] */
const matrix: Array<[KeyPermission[], string, string, "read" | "write", boolean]> = [
  // single key
  [[perm(READ, "k")], "k", "", "read", true],
  [[perm(READ, "k")], "k", "", "write", false],
  [[perm(READ, "k")], "k2", "", "read", false],
  [[perm(READ, "k")], "k", "k\0", "read", true], // the one-key range is the key
  [[perm(READ, "k")], "k", "l", "read", false],
  [[perm(WRITE, "k")], "k", "", "write", true],
  [[perm(READWRITE, "k")], "k", "", "read", true],
  [[perm(READWRITE, "k")], "k", "", "write", true],
  // [key, end)
  [[perm(READ, "a", "c")], "b", "", "read", true],
  [[perm(READ, "a", "c")], "c", "", "read", false],
  [[perm(READ, "a", "c")], "a", "c", "read", true],
  [[perm(READ, "a", "c")], "a", "b", "read", true],
  [[perm(READ, "a", "c")], "a", "d", "read", false],
  [[perm(READ, "a", "c")], "0", "b", "read", false],
  // prefix foo/ = [foo/, foo0)
  [[perm(READWRITE, "foo/", "foo0")], "foo/x", "", "write", true],
  [[perm(READWRITE, "foo/", "foo0")], "foo/", "foo0", "read", true],
  [[perm(READWRITE, "foo/", "foo0")], "foo", "", "read", false],
  [[perm(READWRITE, "foo/", "foo0")], "foo/", z, "read", false],
  // from key: range_end "\0"
  [[perm(READ, "zz", z)], "zz", z, "read", true],
  [[perm(READ, "zz", z)], "zzz", "", "read", true],
  [[perm(READ, "zz", z)], "z", z, "read", false],
  [[perm(READ, "zz", z)], "zz", "\xff\xff", "read", true],
  // everything: key "" or "\0" with range_end "\0"
  [[perm(READ, "", z)], z, z, "read", true],
  [[perm(READ, z, z)], z, z, "read", true],
  [[perm(READ, "a", z)], z, z, "read", false],
  // unions: adjacent and overlapping permissions cover together
  [[perm(READ, "a", "c"), perm(READ, "c", "e")], "a", "e", "read", true],
  [[perm(READ, "c", "e"), perm(READ, "a", "d")], "b", "e", "read", true],
  [[perm(READ, "a", "c"), perm(READ, "d", "e")], "a", "e", "read", false],
  [[perm(READ, "a", "b"), perm(READ, "b")], "a", "b\0", "read", true],
  [[perm(READ, "a", "b"), perm(WRITE, "b", "c")], "a", "c", "read", false],
  // an empty range reads nothing: allowed, as etcd answers it
  [[perm(READ, "a", "c")], "b", "a", "read", true],
  // no permissions
  [[], "a", "", "read", false],
];

describe("permission ranges", () => {
  for (const [perms, key, end, access, allowed] of matrix) {
    const label = perms
      .map(
        (p) =>
          `${["R", "W", "RW"][p.permType]}[${JSON.stringify(Buffer.from(p.key).toString())},${JSON.stringify(Buffer.from(p.rangeEnd).toString())}]`,
      )
      .join("+");
    it(`${label || "none"} ${access} ${JSON.stringify(key)}..${JSON.stringify(end)} → ${allowed ? "allowed" : "denied"}`, () => {
      const m = mergePermissions(perms);
      assert.equal(
        covers(access === "read" ? m.read : m.write, toInterval(b(key), b(end))),
        allowed,
      );
    });
  }
});
