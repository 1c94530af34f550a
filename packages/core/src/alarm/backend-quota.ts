import type { Backend } from "../backend/backend.js";

/** etcd's DefaultQuotaBytes: 2 GiB. */
export const defaultQuotaBackendBytes = 2 * 1024 ** 3;
/** etcd's MaxQuotaBytes: above this etcd warns that the quota may hurt performance. */
export const maxSuggestedQuotaBackendBytes = 8 * 1024 ** 3;
/** etcd's per-key overhead in its cost estimate of a put. */
const kvOverheadBytes = 256;

/**
 * etcd's backend quota: a write may go ahead while the backend file plus the
 * write's estimated size stays within the quota. The file only shrinks on
 * defragment, so after compaction an operator defragments, then disarms.
 */
export interface BackendQuota {
  /** Whether a write of about `bytes` (keys + values) fits. */
  available(bytes: number): boolean;
  /** The quota in bytes; Infinity when quotas are off. */
  readonly limit: number;
  /**
   * What etcd 3.4 reports as `etcd_server_quota_backend_bytes`: the quota in
   * bytes (2 GiB for the default 0), or the setting itself when it is
   * negative (quotas off).
   */
  readonly reportedBytes: number;
}

/**
 * @param quotaBytes etcd's `--quota-backend-bytes`: 0 means the 2 GiB default,
 *   a negative number turns quotas off.
 */
export function createBackendQuota(backend: Backend, quotaBytes: number): BackendQuota {
  const limit =
    quotaBytes < 0
      ? Number.POSITIVE_INFINITY
      : quotaBytes === 0
        ? defaultQuotaBackendBytes
        : quotaBytes;
  return {
    limit,
    reportedBytes: quotaBytes === 0 ? defaultQuotaBackendBytes : quotaBytes,
    available: (bytes) => backend.sizeBytes() + bytes + kvOverheadBytes <= limit,
  };
}
