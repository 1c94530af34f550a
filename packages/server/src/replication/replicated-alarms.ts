import type { Alarm, AlarmStore } from "@conclave/core";
import { logEntry } from "./propose-entry.js";
import type { ReplicaLog } from "./replica-log.js";

/** AlarmRequest.AlarmAction values (etcdserverpb). */
const activate = 1;
const deactivate = 2;

/** Alarms of a replica: raised and disarmed through the log, so every replica has them. */
export function createReplicatedAlarms(local: AlarmStore, log: ReplicaLog): AlarmStore {
  return {
    list: (type) => local.list(type),
    has: (type) => local.has(type),
    activate: (memberID, alarm) =>
      log.propose(
        logEntry({ case: "alarm", value: { action: activate, memberID, alarm } } as never),
      ) as Promise<Alarm>,
    deactivate: (memberID, alarm) =>
      log.propose(
        logEntry({ case: "alarm", value: { action: deactivate, memberID, alarm } } as never),
      ) as Promise<Alarm | undefined>,
  };
}
