import type { Term } from "@conclave/proto";

/**
 * What the dashboard makes of an election's term (docs/leader-election.md,
 * "Lifecycle"): `active` while anyone is in line; `idle` when it was created
 * (Create) and nobody leads or waits — kept, but marked; `gone` when the line
 * is empty and it was never created or was closed — List no longer lists it,
 * so neither does the page (its state key stays only to keep term numbers).
 */
export type TermStatus = "active" | "idle" | "gone";

export function termStatus(term: Pick<Term, "leader" | "candidates" | "created">): TermStatus {
  if (term.leader !== "" || term.candidates.length > 0) return "active";
  return term.created ? "idle" : "gone";
}
