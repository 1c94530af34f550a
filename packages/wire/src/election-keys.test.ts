import assert from "node:assert/strict";
import { test } from "node:test";
import { electionKeys, type ParsedElectionKey, parseElectionKey } from "./election-keys.js";

test("parseElectionKey finds the election of LeaderElection keys (names are URI-encoded)", () => {
  const table: Array<[string, ParsedElectionKey | undefined]> = [
    ["__conclave/le/jobs/state", { election: "jobs", part: "state" }],
    ["__conclave/le/jobs/leader", { election: "jobs", part: "leader" }],
    [
      "__conclave/le/jobs/candidates/w%2F1",
      { election: "jobs", part: "candidates/w%2F1", candidateId: "w/1" },
    ],
    ["__conclave/le/jobs/candidates/", { election: "jobs", part: "candidates/", candidateId: "" }],
    ["__conclave/le/jobs/candidates/a/b", { election: "jobs", part: "candidates/a/b" }],
    ["__conclave/le/a%2Fb%20c/state", { election: "a/b c", part: "state" }],
    ["__conclave/le/bad%zz/state", undefined],
    ["__conclave/le/jobs/candidates/bad%zz", undefined],
    ["__conclave/le/jobs", undefined],
    ["__conclave/other/jobs/state", undefined],
    ["jobs/state", undefined],
  ];
  for (const [key, want] of table) assert.deepEqual(parseElectionKey(key), want, key);
});

test("electionKeys and parseElectionKey agree", () => {
  const k = electionKeys("a/b c");
  assert.equal(k.prefix, "__conclave/le/a%2Fb%20c/");
  assert.equal(k.state, "__conclave/le/a%2Fb%20c/state");
  assert.equal(k.leader, "__conclave/le/a%2Fb%20c/leader");
  assert.equal(k.candidatesPrefix, "__conclave/le/a%2Fb%20c/candidates/");
  assert.deepEqual(parseElectionKey(k.candidate("w/1")), {
    election: "a/b c",
    part: "candidates/w%2F1",
    candidateId: "w/1",
  });
  assert.deepEqual(parseElectionKey(k.state), { election: "a/b c", part: "state" });
});
