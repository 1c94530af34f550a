export {
  type Alarm,
  type AlarmStore,
  type AlarmStoreOptions,
  AlarmType,
  alarmRecordOp,
  createAlarmStore,
} from "./alarm-store.js";
export {
  type BackendQuota,
  createBackendQuota,
  defaultQuotaBackendBytes,
  maxSuggestedQuotaBackendBytes,
} from "./backend-quota.js";
