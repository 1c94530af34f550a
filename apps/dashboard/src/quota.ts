// The backend quota beside the DB sizes (tested in quota.test.ts).

/** How the DB stands against the backend quota (`--quota-backend-bytes`). */
export type QuotaUse =
  | {
      kind: "quota";
      quotaBytes: number;
      /** Percent of the quota the DB file takes (what the quota checks). */
      sizePercent: number;
      /** Percent of the quota the DB's live pages take (what a defragment would leave). */
      inUsePercent: number;
    }
  /** Quotas are off (a negative setting). */
  | { kind: "off" }
  /** The server exports no `etcd_server_quota_backend_bytes` (or /metrics was not read yet). */
  | { kind: "unknown" };

/**
 * The DB file and its in-use part against the quota that
 * `etcd_server_quota_backend_bytes` reports: etcd refuses a write (NOSPACE)
 * once the file plus the write would pass it.
 */
export function quotaUse(
  dbSize: number,
  dbInUse: number,
  quotaBytes: number | undefined,
): QuotaUse {
  if (quotaBytes === undefined || Number.isNaN(quotaBytes)) return { kind: "unknown" };
  if (quotaBytes <= 0) return { kind: "off" };
  return {
    kind: "quota",
    quotaBytes,
    sizePercent: (dbSize / quotaBytes) * 100,
    inUsePercent: (dbInUse / quotaBytes) * 100,
  };
}

/** A percentage for people: one decimal, "<0.1%" for a sliver above nothing. */
export function formatPercent(p: number): string {
  if (p > 0 && p < 0.1) return "<0.1%";
  return `${p.toFixed(1)}%`;
}

/** Bytes in the largest binary unit that keeps a number ≥ 1: "512 B", "1.5 MiB", "2 GiB". */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = bytes;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const text = i === 0 || Number.isInteger(v) ? String(v) : v.toFixed(1);
  return `${text} ${units[i]}`;
}
