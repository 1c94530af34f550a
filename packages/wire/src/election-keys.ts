// Where conclave.v1 LeaderElection keeps its state: ordinary keys, visible to
// Range and Watch, under "__conclave/le/<URI-encoded election>/":
//   state                         the line, the term and whether Create declared it
//                                 (JSON, the server's own; List reads these)
//   leader                        changes only when the leader does (the fencing key)
//   candidates/<URI-encoded id>   one per candidate, on the candidate's lease
// Names and IDs are URI-encoded so a "/" in them cannot collide with the
// layout. The server writes these keys; the dashboard finds elections by them.

/** Every key Conclave reserves for itself starts with this. */
export const internalPrefix = "__conclave/";

/** The reserved prefix of LeaderElection state. */
export const leaderElectionPrefix = `${internalPrefix}le/`;

/** The keys of one election. */
export interface ElectionKeys {
  /** Every key of the election starts with this (ends in "/"). */
  prefix: string;
  state: string;
  leader: string;
  /** Every candidate key starts with this. */
  candidatesPrefix: string;
  candidate(id: string): string;
}

/** Key layout of one election. */
export function electionKeys(election: string): ElectionKeys {
  const prefix = `${leaderElectionPrefix}${encodeURIComponent(election)}/`;
  return {
    prefix,
    state: `${prefix}state`,
    leader: `${prefix}leader`,
    candidatesPrefix: `${prefix}candidates/`,
    candidate: (id: string) => `${prefix}candidates/${encodeURIComponent(id)}`,
  };
}

/** What {@link parseElectionKey} tells about a key. */
export interface ParsedElectionKey {
  /** The election's name, decoded. */
  election: string;
  /** The rest of the key as stored: "state", "leader", "candidates/<URI-encoded id>", or whatever else was written there. */
  part: string;
  /** The decoded ID, for a "candidates/<id>" key only. */
  candidateId?: string;
}

/**
 * The election a LeaderElection key belongs to, and which key it is;
 * undefined for other keys, and for keys Conclave cannot have written (a
 * malformed URI escape), so a stray key never throws.
 */
export function parseElectionKey(key: string): ParsedElectionKey | undefined {
  if (!key.startsWith(leaderElectionPrefix)) return undefined;
  const rest = key.slice(leaderElectionPrefix.length);
  const slash = rest.indexOf("/");
  if (slash < 0) return undefined;
  const part = rest.slice(slash + 1);
  const candidate = part.startsWith("candidates/") ? part.slice("candidates/".length) : undefined;
  try {
    const election = decodeURIComponent(rest.slice(0, slash));
    if (candidate === undefined || candidate.includes("/")) return { election, part };
    return { election, part, candidateId: decodeURIComponent(candidate) };
  } catch {
    return undefined;
  }
}
