/**
 * Plain domain types of the key-value core.
 *
 * Field names and shapes deliberately mirror etcd's `etcdserverpb` messages as
 * protobuf-es generates them (camelCase names, `bigint` for int64, `Uint8Array`
 * for bytes, oneofs as `{ case, value }`), so a transport layer can hand a
 * decoded request to the core without copying it. Nothing here imports a
 * transport or generated code.
 */

export interface KeyValue {
  key: Uint8Array;
  /** Revision of the last creation of this key (reset by delete + put). */
  createRevision: bigint;
  /** Revision of the last modification. */
  modRevision: bigint;
  /** Number of modifications since creation; a delete resets it to 0. */
  version: bigint;
  value: Uint8Array;
  /** Lease ID attached to the key, 0 for none. */
  lease: bigint;
}

/** Matches etcd's `RangeRequest.SortOrder`. */
export const SortOrder = { NONE: 0, ASCEND: 1, DESCEND: 2 } as const;
/** Matches etcd's `RangeRequest.SortTarget`. */
export const SortTarget = { KEY: 0, VERSION: 1, CREATE: 2, MOD: 3, VALUE: 4 } as const;
/** Matches etcd's `Compare.CompareResult`. */
export const CompareResult = { EQUAL: 0, GREATER: 1, LESS: 2, NOT_EQUAL: 3 } as const;
/** Matches etcd's `Compare.CompareTarget`. */
export const CompareTarget = { VERSION: 0, CREATE: 1, MOD: 2, VALUE: 3, LEASE: 4 } as const;

export interface RangeRequest {
  key: Uint8Array;
  rangeEnd: Uint8Array;
  limit: bigint;
  revision: bigint;
  sortOrder: number;
  sortTarget: number;
  serializable: boolean;
  keysOnly: boolean;
  countOnly: boolean;
  minModRevision: bigint;
  maxModRevision: bigint;
  minCreateRevision: bigint;
  maxCreateRevision: bigint;
}

export interface PutRequest {
  key: Uint8Array;
  value: Uint8Array;
  lease: bigint;
  prevKv: boolean;
  ignoreValue: boolean;
  ignoreLease: boolean;
}

export interface DeleteRangeRequest {
  key: Uint8Array;
  rangeEnd: Uint8Array;
  prevKv: boolean;
}

export interface RequestOp {
  request:
    | { case: "requestRange"; value: RangeRequest }
    | { case: "requestPut"; value: PutRequest }
    | { case: "requestDeleteRange"; value: DeleteRangeRequest }
    | { case: "requestTxn"; value: TxnRequest }
    | { case: undefined; value?: undefined };
}

export interface Compare {
  result: number;
  target: number;
  key: Uint8Array;
  targetUnion:
    | { case: "version"; value: bigint }
    | { case: "createRevision"; value: bigint }
    | { case: "modRevision"; value: bigint }
    | { case: "value"; value: Uint8Array }
    | { case: "lease"; value: bigint }
    | { case: undefined; value?: undefined };
  rangeEnd: Uint8Array;
}

export interface TxnRequest {
  compare: Compare[];
  success: RequestOp[];
  failure: RequestOp[];
}

export interface CompactionRequest {
  revision: bigint;
  physical: boolean;
}

/**
 * The part of etcd's ResponseHeader the core knows. cluster_id, member_id and
 * raft_term are filled in by the server edge.
 */
export interface Header {
  revision: bigint;
}

export interface RangeResponse {
  header: Header;
  kvs: KeyValue[];
  more: boolean;
  count: bigint;
}

export interface PutResponse {
  header: Header;
  prevKv?: KeyValue | undefined;
}

export interface DeleteRangeResponse {
  header: Header;
  deleted: bigint;
  prevKvs: KeyValue[];
}

export interface ResponseOp {
  response:
    | { case: "responseRange"; value: RangeResponse }
    | { case: "responsePut"; value: PutResponse }
    | { case: "responseDeleteRange"; value: DeleteRangeResponse }
    | { case: "responseTxn"; value: TxnResponse }
    | { case: undefined; value?: undefined };
}

export interface TxnResponse {
  /** Top level: the revision after the txn. Nested txn responses carry an empty header. */
  header: Partial<Header>;
  succeeded: boolean;
  responses: ResponseOp[];
}

export interface CompactionResponse {
  header: Header;
}

/** One change made by a committed write, in sub-revision order. */
export interface Change {
  type: "put" | "delete";
  /** For deletes: only key and modRevision are meaningful (as etcd's DELETE events). */
  kv: KeyValue;
}
