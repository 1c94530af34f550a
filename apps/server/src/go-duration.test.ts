import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { closestName } from "./closest-name.js";
import { parseGoDuration } from "./go-duration.js";

describe("parseGoDuration", () => {
  const cases: Array<[string, number | undefined]> = [
    ["1h", 3_600_000],
    ["30m", 1_800_000],
    ["1h30m", 5_400_000],
    ["1.5h", 5_400_000],
    ["300ms", 300],
    ["10s", 10_000],
    ["0", 0],
    ["-1m", -60_000],
    ["1", undefined],
    ["1d", undefined],
    ["h", undefined],
    ["", undefined],
  ];
  for (const [text, want] of cases) {
    it(`${JSON.stringify(text)} → ${want}`, () => assert.equal(parseGoDuration(text), want));
  }
});

describe("closestName", () => {
  const names = ["data-dir", "name", "listen-client-urls", "snapshot-count"];
  const cases: Array<[string, string | undefined]> = [
    ["datadir", "data-dir"],
    ["listen-client-url", "listen-client-urls"],
    ["nmae", "name"],
    ["snapshots", undefined],
    ["xyz", undefined],
  ];
  for (const [wanted, want] of cases) {
    it(`${wanted} → ${want}`, () => assert.equal(closestName(wanted, names), want));
  }
});
