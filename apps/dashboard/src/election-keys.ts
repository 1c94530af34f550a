// Where conclave.v1 LeaderElection keeps its state: ordinary keys under
// "__conclave/le/<URI-encoded election>/" (state, leader, candidates/<id>).
// The dashboard finds elections by these keys and reads their terms with
// GetTerm, so it does not depend on the state key's internal JSON.

/** The reserved prefix of LeaderElection state. */
export const leaderElectionPrefix = "__conclave/le/";

/** Every key Conclave reserves for itself starts with this. */
export const internalPrefix = "__conclave/";

const electionKey = /^__conclave\/le\/([^/]*)\/(.*)$/;

/** The election a LeaderElection key belongs to, and which key it is; undefined for other keys. */
export function parseElectionKey(key: string): { election: string; part: string } | undefined {
  const m = electionKey.exec(key);
  if (m === null) return undefined;
  try {
    return { election: decodeURIComponent(m[1] ?? ""), part: m[2] ?? "" };
  } catch {
    return undefined; // not written by Conclave (bad escape)
  }
}
