import assert from "node:assert/strict";
import { test } from "node:test";
import { parseElectionKey } from "./election-keys.js";

test("parseElectionKey finds the election of LeaderElection keys (names are URI-encoded)", () => {
  const table: Array<[string, { election: string; part: string } | undefined]> = [
    ["__conclave/le/jobs/state", { election: "jobs", part: "state" }],
    ["__conclave/le/jobs/leader", { election: "jobs", part: "leader" }],
    ["__conclave/le/jobs/candidates/w%2F1", { election: "jobs", part: "candidates/w%2F1" }],
    ["__conclave/le/a%2Fb%20c/state", { election: "a/b c", part: "state" }],
    ["__conclave/le/bad%zz/state", undefined],
    ["__conclave/other/jobs/state", undefined],
    ["jobs/state", undefined],
  ];
  for (const [key, want] of table) assert.deepEqual(parseElectionKey(key), want, key);
});
