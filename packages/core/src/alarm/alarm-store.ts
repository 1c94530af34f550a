import { type Backend, type BackendOp, Buckets } from "../backend/backend.js";

/** etcd's AlarmType values: NONE 0 (in a request: any), NOSPACE 1, CORRUPT 2. */
export const AlarmType = { none: 0, noSpace: 1, corrupt: 2 } as const;

/** One raised alarm: which member raised it and what it is. */
export interface Alarm {
  memberId: bigint;
  type: number;
}

/**
 * The cluster's alarms (etcd's alarm store), kept in the `alarm` bucket so a
 * raised alarm survives a restart, as etcd's does: an operator must disarm
 * NOSPACE after making room, not just restart.
 */
export interface AlarmStore {
  /** Every raised alarm, or those of one type. */
  list(type?: number): Alarm[];
  /** Whether an alarm of `type` is raised by any member. */
  has(type: number): boolean;
  /** Raises an alarm (idempotent); resolves once durable, with the alarm. */
  activate(memberId: bigint, type: number): Promise<Alarm>;
  /** Disarms an alarm; resolves with it once durable, or undefined when it was not raised. */
  deactivate(memberId: bigint, type: number): Promise<Alarm | undefined>;
}

export interface AlarmStoreOptions {
  backend: Backend;
  /**
   * Durably writes the store's ops, ordered with the other writes (the KV
   * store's staged write path). Default: the backend's commit.
   */
  commit?: (
    ops: { bucket: string; key: Uint8Array; value: Uint8Array | undefined }[],
  ) => Promise<void>;
}

const keyOf = (a: Alarm) => {
  const k = new Uint8Array(9);
  new DataView(k.buffer).setBigUint64(0, a.memberId);
  k[8] = a.type;
  return k;
};

/** The backend write that stores a raised alarm (building a data dir from a snapshot). */
export function alarmRecordOp(a: Alarm): BackendOp {
  return { bucket: Buckets.alarm, key: keyOf(a), value: new Uint8Array(0) };
}

export function createAlarmStore(options: AlarmStoreOptions): AlarmStore {
  const { backend } = options;
  const commit = options.commit ?? ((ops) => backend.commit(ops));
  const alarms = new Map<string, Alarm>();
  const id = (a: Alarm) => `${a.memberId}/${a.type}`;
  for (const { key } of backend.range(Buckets.alarm)) {
    if (key.length !== 9) continue;
    const a = {
      memberId: new DataView(key.buffer, key.byteOffset, 8).getBigUint64(0),
      type: key[8] ?? 0,
    };
    alarms.set(id(a), a);
  }
  return {
    list: (type) =>
      [...alarms.values()].filter((a) => type === undefined || type === 0 || a.type === type),
    has: (type) => [...alarms.values()].some((a) => a.type === type),
    async activate(memberId, type) {
      const a = { memberId, type };
      if (!alarms.has(id(a))) {
        alarms.set(id(a), a);
        await commit([{ bucket: Buckets.alarm, key: keyOf(a), value: new Uint8Array(0) }]);
      }
      return a;
    },
    async deactivate(memberId, type) {
      const a = alarms.get(id({ memberId, type }));
      if (a === undefined) return undefined;
      alarms.delete(id(a));
      await commit([{ bucket: Buckets.alarm, key: keyOf(a), value: undefined }]);
      return a;
    },
  };
}
