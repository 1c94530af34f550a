import assert from "node:assert/strict";
import { test } from "node:test";
import {
  displayBytes,
  formatCountdown,
  formatStale,
  leaseHex,
  msUntilStaleChange,
} from "./format.js";

test("formatCountdown rounds seconds up and switches units", () => {
  const table: Array<[number, string]> = [
    [Number.POSITIVE_INFINITY, "–"],
    [Number.NaN, "–"],
    [-5_000, "0 s"],
    [0, "0 s"],
    [1, "1 s"],
    [999, "1 s"],
    [1_000, "1 s"],
    [1_001, "2 s"],
    [59_000, "59 s"],
    [60_000, "1 m 00 s"],
    [65_000, "1 m 05 s"],
    [3_599_000, "59 m 59 s"],
    [3_600_000, "1 h 00 m"],
    [7_620_000, "2 h 07 m"],
  ];
  for (const [ms, want] of table) assert.equal(formatCountdown(ms), want, `${ms} ms`);
});

test("leaseHex prints IDs as etcd does", () => {
  assert.equal(leaseHex(0x694d7e3c2b1a0f01n), "694d7e3c2b1a0f01");
  assert.equal(leaseHex(255n), "ff");
});

test("displayBytes shows UTF-8 as text, other bytes as hex, and cuts long values", () => {
  const enc = new TextEncoder();
  assert.equal(displayBytes(enc.encode("héllo")), "héllo");
  assert.equal(displayBytes(new Uint8Array([0xff, 0x00, 0x10])), "0xff0010");
  assert.equal(displayBytes(enc.encode("x".repeat(200)), 10), `${"x".repeat(9)}…`);
  assert.equal(displayBytes(new Uint8Array(0)), "");
});

test("formatStale says how old the data is, or that none came yet", () => {
  assert.equal(formatStale(0n, undefined, 5_000), "connecting…");
  assert.equal(formatStale(42n, 10_000, 17_400), "reconnecting… (last data from rev 42, 7 s ago)");
  assert.equal(formatStale(9n, 10_000, 9_000), "reconnecting… (last data from rev 9, 0 s ago)");
});

test("msUntilStaleChange: the next moment the shown age changes, so it is never a second behind", () => {
  const last = 10_000;
  for (const elapsed of [0, 1, 499, 500, 1_400, 1_499, 1_500, 2_200, 61_999]) {
    const now = last + elapsed;
    const wait = msUntilStaleChange(last, now);
    const shown = formatStale(1n, last, now);
    assert.ok(wait >= 1 && wait <= 1_000, `${elapsed}: ${wait}`);
    assert.equal(formatStale(1n, last, now + wait - 1), shown, `${elapsed}: same until then`);
    assert.notEqual(formatStale(1n, last, now + wait), shown, `${elapsed}: changes then`);
  }
  assert.equal(msUntilStaleChange(undefined, 5_000), 1_000);
});
