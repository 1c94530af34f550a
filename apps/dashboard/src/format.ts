// Pure formatting helpers shared by the views (tested in format.test.ts).

/**
 * A countdown for humans: "42 s", "3 m 05 s", "2 h 07 m". Seconds are
 * rounded up, so a lease with 0.2 s left still shows "1 s" and "0 s" means
 * the deadline passed. Not finite (no deadline): "–".
 */
export function formatCountdown(ms: number): string {
  if (!Number.isFinite(ms)) return "–";
  const s = Math.max(0, Math.ceil(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} m ${pad2(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${pad2(m % 60)} m`;
}

const pad2 = (n: number) => String(n).padStart(2, "0");

/** A lease ID as etcd prints it (etcdctl, v3lock keys): lowercase hex, no prefix. */
export function leaseHex(id: bigint): string {
  return id.toString(16);
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Bytes as text when they are valid UTF-8, otherwise as `0x…` hex; cut to
 * `max` characters with "…" so huge values cannot blow up the page.
 */
export function displayBytes(bytes: Uint8Array, max = 120): string {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    text = `0x${Array.from(bytes.subarray(0, max), (b) => b.toString(16).padStart(2, "0")).join("")}`;
  }
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Bytes as UTF-8 text, or undefined when they are not valid UTF-8. */
export function utf8OrUndefined(bytes: Uint8Array): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * What the panels say while the connection is down, so old data is never
 * taken for live: "reconnecting… (last data from rev 42, 7 s ago)", or
 * "connecting…" before any data came.
 */
export function formatStale(revision: bigint, lastDataAt: number | undefined, now: number): string {
  if (lastDataAt === undefined) return "connecting…";
  const s = Math.max(0, Math.round((now - lastDataAt) / 1000));
  return `reconnecting… (last data from rev ${revision}, ${s} s ago)`;
}

/**
 * Milliseconds until the "T s ago" of {@link formatStale} next changes (it
 * rounds to whole seconds, so at each half second after `lastDataAt`), so
 * what the page shows is re-drawn exactly then and is never a second behind.
 * 1 000 before any data came.
 */
export function msUntilStaleChange(lastDataAt: number | undefined, now: number): number {
  if (lastDataAt === undefined) return 1_000;
  const elapsed = Math.max(0, now - lastDataAt);
  const next = (Math.floor(elapsed / 1000 + 0.5) + 0.5) * 1000;
  return Math.max(1, Math.ceil(next - elapsed));
}
