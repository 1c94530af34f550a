// Public API of @conclave/testkit: starting the real `conclave` CLI and a
// reference etcd as child processes on free ports, shared by the wire tests
// (packages/e2e) and the benchmark (apps/server/bench) so both drive servers
// the same way; and real PostgreSQL clusters (with streaming standbys) for
// the PostgreSQL storage mode's tests. Node only; never a dependency of
// anything that ships.

export { deepTxnBytes } from "./deep-txn-bytes.js";
export { freePort } from "./free-port.js";
export { requireTool } from "./require-tool.js";
export { type ConclaveRun, runConclave } from "./run-conclave.js";
export type { RunningServer } from "./running-server.js";
export { type StartOptions, serverBundle, startConclave } from "./start-conclave.js";
export { type EtcdStartOptions, startEtcd } from "./start-etcd.js";
export {
  type PostgresCluster,
  type StartPostgresOptions,
  startPostgres,
} from "./start-postgres.js";
export { type PostgresStandby, type StandbyOptions, startStandby } from "./start-standby.js";
