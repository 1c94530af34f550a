/**
 * etcd 3.4 server flags that mean nothing for Conclave. A unit file or a
 * config written for etcd keeps working: each is accepted (with its value,
 * if it takes one) and named in one warning line that says why it has no
 * effect. Flags that would change what clients see or how the server
 * defends itself are not here: they are implemented, or refused.
 */
export interface FlagWithoutEffect {
  /** Takes no value (`--pre-vote`, `--pre-vote=false`). */
  boolean?: true;
  why: string;
}

const noRaft = "Conclave has no Raft peers, or Raft WAL files and snapshots to tune";
const noPeers = "Conclave has no peer traffic to secure";
const noV2 = "the v2 API is not served";
const logs = "Conclave logs JSON lines to standard output (pino)";
const lmdb = "there is no bbolt: the store is LMDB";
const noProxy = "Conclave does not run as an etcd v2 proxy";
const noDiscovery =
  "there is no cluster to discover: every member serves alone or shares PostgreSQL";
const oneCopy = "one copy of the data: nothing to compare it with";

export const etcdFlagsWithoutEffect: Readonly<Record<string, FlagWithoutEffect>> = {
  "snapshot-count": { why: noRaft },
  "heartbeat-interval": { why: noRaft },
  "election-timeout": { why: noRaft },
  "initial-election-tick-advance": { boolean: true, why: noRaft },
  "max-snapshots": { why: noRaft },
  "max-wals": { why: noRaft },
  "pre-vote": { boolean: true, why: noRaft },
  "strict-reconfig-check": { boolean: true, why: noRaft },
  "force-new-cluster": { boolean: true, why: noRaft },
  "listen-peer-urls": { why: noPeers },
  "initial-cluster-state": { why: noDiscovery },
  discovery: { why: noDiscovery },
  "discovery-fallback": { why: noDiscovery },
  "discovery-proxy": { why: noDiscovery },
  "discovery-srv": { why: noDiscovery },
  "discovery-srv-name": { why: noDiscovery },
  "peer-cert-file": { why: noPeers },
  "peer-key-file": { why: noPeers },
  "peer-client-cert-auth": { boolean: true, why: noPeers },
  "peer-trusted-ca-file": { why: noPeers },
  "peer-cert-allowed-cn": { why: noPeers },
  "peer-cert-allowed-hostname": { why: noPeers },
  "peer-auto-tls": { boolean: true, why: noPeers },
  "peer-crl-file": { why: noPeers },
  "experimental-peer-skip-client-san-verification": { boolean: true, why: noPeers },
  "enable-v2": { boolean: true, why: noV2 },
  "experimental-enable-v2v3": { why: noV2 },
  logger: { why: logs },
  "log-outputs": { why: logs },
  "log-package-levels": { why: `${logs}; set --log-level` },
  "experimental-backend-bbolt-freelist-type": { why: lmdb },
  "enable-pprof": { boolean: true, why: "there is no Go profiler: profile with node --cpu-prof" },
  metrics: { why: "/metrics always serves the same series" },
  "grpc-keepalive-min-time": { why: "HTTP/2 pings are answered at any rate" },
  "grpc-keepalive-interval": { why: "idle connections are closed by the keep-alive timeout" },
  "grpc-keepalive-timeout": { why: "idle connections are closed by the keep-alive timeout" },
  proxy: { why: noProxy },
  "proxy-failure-wait": { why: noProxy },
  "proxy-refresh-interval": { why: noProxy },
  "proxy-dial-timeout": { why: noProxy },
  "proxy-write-timeout": { why: noProxy },
  "proxy-read-timeout": { why: noProxy },
  "experimental-initial-corrupt-check": { boolean: true, why: oneCopy },
  "experimental-corrupt-check-time": { why: oneCopy },
  "experimental-enable-lease-checkpoint": {
    boolean: true,
    why: "lease deadlines are always persisted (see docs/design.md)",
  },
  "experimental-compaction-batch-limit": {
    why: "compaction deletes in batches of 10,000 revisions",
  },
  "experimental-warning-apply-duration": { why: "there is no apply loop to time" },
};
