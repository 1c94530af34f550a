// When things happened, as far as it can honestly be known (tested in
// moments.test.ts). MVCC keeps revisions, not times, so a time comes from
// one of two places, and the page always says which:
// - "server": a time the server recorded itself (conclave.v1 LeaderElection
//   stores each change's wall-clock time with the change), by its clock;
// - "page": when this page received the change live over its watch, by the
//   browser's clock — only for changes made while the page was open.
// Anything else has a revision and no time.

/** A point in time and where it comes from. */
export interface Moment {
  /** Unix ms. */
  at: number;
  source: "server" | "page";
}

/** The server's time when it has one, else when this page saw the revision, else nothing. */
export function momentOf(
  serverMs: number | undefined,
  revision: bigint | undefined,
  seenAt: (revision: bigint) => number | undefined,
): Moment | undefined {
  if (serverMs !== undefined) return { at: serverMs, source: "server" };
  const seen = revision === undefined ? undefined : seenAt(revision);
  return seen === undefined ? undefined : { at: seen, source: "page" };
}

const pad2 = (n: number) => String(n).padStart(2, "0");

/** Local time "14:03:07", with the date before it ("2026-12-05 14:03:07") when it is not today. */
export function formatClock(ms: number, now: number): string {
  const d = new Date(ms);
  const time = `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  const today = new Date(now);
  const sameDay =
    d.getFullYear() === today.getFullYear() &&
    d.getMonth() === today.getMonth() &&
    d.getDate() === today.getDate();
  return sameDay
    ? time
    : `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${time}`;
}

/** What a moment's source is called on the page. */
export const momentLabel: Record<Moment["source"], string> = {
  server: "server clock",
  page: "seen by this page",
};

/** A duration for people: "850 ms", "12.3 s", "4 m 05 s". */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} m ${pad2(s % 60)} s`;
}

/**
 * A bounded record of when this page received each revision over its watch
 * (the browser's clock): the last `limit` revisions seen.
 */
export function createSeenRevisions(limit = 10_000): {
  see(revision: bigint, at: number): void;
  at(revision: bigint): number | undefined;
} {
  const seen = new Map<bigint, number>();
  return {
    see(revision, at) {
      if (seen.has(revision)) return;
      seen.set(revision, at);
      if (seen.size > limit) {
        const oldest = seen.keys().next().value;
        if (oldest !== undefined) seen.delete(oldest);
      }
    },
    at: (revision) => seen.get(revision),
  };
}
