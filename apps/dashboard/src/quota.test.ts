import assert from "node:assert/strict";
import { test } from "node:test";
import { formatBytes, formatPercent, quotaUse } from "./quota.js";

test("quotaUse puts the DB file and its in-use part against the quota", () => {
  assert.deepEqual(quotaUse(1024, 512, 4096), {
    kind: "quota",
    quotaBytes: 4096,
    sizePercent: 25,
    inUsePercent: 12.5,
  });
  // etcd reports a negative setting as it is: quotas are off.
  assert.deepEqual(quotaUse(1024, 512, -1), { kind: "off" });
  // No series (an older server, or not read yet): never taken for 0 or for off.
  assert.deepEqual(quotaUse(1024, 512, undefined), { kind: "unknown" });
});

test("formatPercent and formatBytes", () => {
  assert.equal(formatPercent(0), "0.0%");
  assert.equal(formatPercent(0.04), "<0.1%");
  assert.equal(formatPercent(99.96), "100.0%");
  assert.equal(formatPercent(112.5), "112.5%");
  assert.equal(formatBytes(512), "512 B");
  assert.equal(formatBytes(53_248), "52 KiB");
  assert.equal(formatBytes(1.5 * 2 ** 20), "1.5 MiB");
  assert.equal(formatBytes(2 * 1024 ** 3), "2 GiB");
});
