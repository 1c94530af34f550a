import { fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  errNoLeader,
  errTimeout,
  type LogAppend,
  type LogRecord,
  type ReplicationStorage,
} from "@conclave/core";
import { conclaveLog } from "@conclave/proto";

type LogEntry = conclaveLog.LogEntry;

/** Applies one entry to the local copy; resolves with the answer for its proposer. */
export type ApplyEntry = (entry: LogEntry) => Promise<unknown>;

export interface ReplicaLogOptions {
  storage: ReplicationStorage;
  /** This replica's member ID: it marks the entries it proposes. */
  memberId: bigint;
  apply: ApplyEntry;
  /** Entries read per round trip while catching up. Default 512. */
  readBatch?: number;
  /** How long an append whose outcome is unknown is checked for, in ms. Default 5000. */
  confirmMs?: number;
  /**
   * The last entry the local copy already holds: that of the log's restore
   * prefix, loaded before the store opened (`loadRestorePrefix`). Following
   * starts after it (and checks it is still there, as any last applied
   * entry). Default none: from position 1.
   */
  after?: LogRecord | undefined;
}

/**
 * The replica side of the shared log, as an etcd member runs its raft log:
 *
 * - **Follow.** Reads the log from the last applied position and applies
 *   every entry to the local copy in order, whoever proposed it — on each
 *   notification and at the fallback poll. The log has no holes and never
 *   changes, so a position that is not the next one, or a last-applied entry
 *   that is gone or different, means the shared storage lost entries this
 *   replica applied: it stops serving (see `onDiverged`).
 * - **Propose.** Appends an entry and answers with what its apply on this
 *   replica returned (or threw): nothing is evaluated before the commit, so
 *   there is nothing to roll back when a commit fails. Proposals that queue
 *   while an append is in flight go into the next one (group commit).
 * - **ReadIndex.** A linearizable read first learns the log's head and waits
 *   until this replica applied it; concurrent reads share one round trip.
 *
 * When an append fails, its outcome is unknown: the replica reconnects,
 * reads up to the head and answers each proposal by whether its entry is
 * there (applied: its answer; absent: "no leader", safe to retry). If the
 * shared storage stays unreachable, "request timed out" (it may have
 * happened), as etcd answers a proposal it cannot confirm.
 */
export interface ReplicaLog {
  /** Catches up with the whole log, then follows it. */
  start(): Promise<void>;
  /** Proposes `entry` (its proposer and request ID are filled in here). */
  propose(entry: LogEntry, grant?: LogAppend["grant"]): Promise<unknown>;
  /** Resolves once this replica applied everything committed before the call (ReadIndex). */
  readIndex(): Promise<void>;
  /** The position of the last entry applied here. */
  applied(): bigint;
  /** Stops following; pending proposals fail with "no leader". */
  close(): Promise<void>;
  /**
   * Told when the shared log is behind this replica (entries it applied are
   * gone). From then on it serves nothing: every proposal and read fails with
   * "no leader", so no client sees history that no longer exists.
   */
  onDiverged(listener: (detail: Divergence) => void): () => void;
}

/** What a replica found when the shared log lost entries it applied. */
export interface Divergence {
  /** The last position applied here. */
  applied: bigint;
  /** The log's head as read then (or the position an append was given). */
  head: bigint;
  /** Which check found it, in words for the operator's log. */
  reason: string;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

interface Pending {
  ok: (value: unknown) => void;
  fail: (err: unknown) => void;
}

/**
 * What {@link timed} rejects with: the call may still be running (and an
 * append may still commit), unlike a call that failed.
 */
class NoAnswerError extends Error {}

/**
 * Rejects if `p` takes longer than `ms`: a connection can die without a
 * reset (a partition), and a proposal must not wait on it for ever.
 */
function timed<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((ok, fail) => {
    const timer = setTimeout(
      () => fail(new NoAnswerError(`no answer from the shared storage in ${ms} ms`)),
      ms,
    );
    p.then(
      (v) => {
        clearTimeout(timer);
        ok(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        fail(e);
      },
    );
  });
}

export function createReplicaLog(options: ReplicaLogOptions): ReplicaLog {
  const { storage, memberId, apply } = options;
  const readBatch = options.readBatch ?? 512;
  const confirmMs = options.confirmMs ?? 5000;
  const proposals = new Map<bigint, Pending>();
  const diverged = new Set<(d: Divergence) => void>();
  let applied = options.after?.seq ?? 0n;
  /** Entries this replica appended, by position, until applied (see catchUp). */
  const appended = new Map<bigint, Uint8Array>();
  /** Entries the commits' notifications carried, by position, until applied (see catchUp). */
  const heard = new Map<bigint, Uint8Array>();
  /**
   * Whether the next catch-up must read the log before applying anything
   * heard: at start, after a notification without entries (the fallback
   * poll, a re-subscribe, a large commit), after a full read batch and while
   * settling an append whose outcome is unknown. The read is what checks
   * the log still holds what was applied here.
   */
  let mustRead = true;
  /** The entry at `applied`, as read: the next read checks it is still there. */
  let lastData: Uint8Array = options.after?.data ?? new Uint8Array(0);
  let nextRequest = 0n;
  let closed = false;
  /** Set once the shared log lost entries applied here: nothing is served from then on. */
  let lost: Divergence | undefined;
  let stopFollowing: (() => void) | undefined;

  // --- Follow -------------------------------------------------------------
  let following: Promise<void> | undefined;
  let followAgain = false;
  let appliedWaiters: Array<{ seq: bigint; ok: () => void }> = [];

  /** Marks the divergence once; listeners are told once. */
  function divergedAt(head: bigint, reason: string): void {
    if (lost !== undefined) return;
    const d: Divergence = { applied, head, reason };
    lost = d;
    appended.clear();
    for (const l of diverged) l(d);
  }

  function wakeApplied(): void {
    if (appliedWaiters.length === 0) return;
    const still: typeof appliedWaiters = [];
    for (const w of appliedWaiters) {
      if (w.seq <= applied) w.ok();
      else still.push(w);
    }
    appliedWaiters = still;
  }

  function waitApplied(seq: bigint): Promise<void> {
    if (seq <= applied) return Promise.resolve();
    return new Promise((ok) => appliedWaiters.push({ seq, ok }));
  }

  /** waitApplied, failing with "no leader" if following cannot get there within `confirmMs`. */
  function waitAppliedFor(seq: bigint): Promise<void> {
    if (seq <= applied) return Promise.resolve();
    return new Promise((ok, fail) => {
      const timer = setTimeout(() => fail(errNoLeader), confirmMs);
      waitApplied(seq).then(() => {
        clearTimeout(timer);
        ok();
      });
    });
  }

  /**
   * The head, checked against what this replica had applied when it asked:
   * a head behind that means entries were lost. Not against what it applied
   * by the time the answer came: a commit's notification, on another
   * connection, can bring entries past the head that was read meanwhile
   * (it happened under load when PostgreSQL came back, and the replica
   * exited for a divergence that was not there).
   */
  async function checkedHead(): Promise<bigint> {
    const asked = applied;
    const head = await timed(storage.log.head(), confirmMs);
    if (head < asked) {
      divergedAt(
        head,
        `the log's head is behind position ${asked}, applied here before it was read`,
      );
      throw errNoLeader;
    }
    return head;
  }

  async function applyOne(seq: bigint, data: Uint8Array): Promise<void> {
    const entry = fromBinary(conclaveLog.LogEntrySchema, data);
    if (entry.request.case === "restore") {
      // Only the log's prefix restores, before the store opens: one here
      // means the log was started again under this replica (a migrate into
      // the database it followed while empty). Its state is not this one's.
      const why = `a restore entry at position ${seq}, after the log's prefix`;
      divergedAt(await storage.log.head().catch(() => seq), why);
      throw new Error(`conclave: ${why}`);
    }
    const mine = entry.proposer === memberId ? proposals.get(entry.requestId) : undefined;
    if (mine !== undefined) proposals.delete(entry.requestId);
    let result: unknown;
    let error: unknown;
    let failed = false;
    try {
      result = await apply(entry);
    } catch (err) {
      failed = true;
      error = err;
    }
    applied = seq;
    lastData = data;
    appended.delete(seq);
    heard.delete(seq);
    if (mine !== undefined) {
      if (failed) mine.fail(error);
      else mine.ok(result);
    }
  }

  /** Whether an entry past the next one is known from memory: then the next one is missing. */
  function gapInMemory(): boolean {
    for (const seq of appended.keys()) if (seq > applied) return true;
    for (const seq of heard.keys()) if (seq > applied) return true;
    return false;
  }

  /**
   * Applies what is known from memory, then reads the log when told to or
   * when memory has a gap. Each read starts one entry early, at the last one
   * applied, and checks it is still the entry applied there: a shared log
   * that lost entries (an asynchronous failover) shows up as that entry
   * missing or different, even when other replicas have appended past this
   * replica's position since.
   */
  async function catchUp(): Promise<void> {
    for (;;) {
      if (closed || lost !== undefined) return;
      // This replica's own entries, at the positions their append returned,
      // and the entries the commits' notifications carried: applied from
      // memory, so a proposer answers right after its commit and a watcher
      // on another replica hears of it without a read of the log.
      let progressed = false;
      for (;;) {
        const next = applied + 1n;
        const data = appended.get(next) ?? (mustRead ? undefined : heard.get(next));
        if (data === undefined) break;
        await applyOne(next, data);
        progressed = true;
        if (closed || lost !== undefined) return;
      }
      if (progressed) wakeApplied();
      for (const seq of heard.keys()) if (seq <= applied) heard.delete(seq);
      if (!mustRead && !gapInMemory()) return;
      mustRead = false;
      const from = applied > 0n ? applied - 1n : 0n;
      let records: LogRecord[];
      try {
        records = await timed(storage.log.read(from, readBatch + 1), confirmMs);
      } catch (err) {
        // Not read (PostgreSQL down or restarting): the next notification,
        // poll or ReadIndex must still read, or this replica stays behind.
        mustRead = true;
        throw err;
      }
      let next = 0;
      if (applied > 0n) {
        const overlap = records[0];
        const gone = overlap === undefined || overlap.seq !== applied;
        if (gone || !sameBytes(overlap.data, lastData)) {
          divergedAt(
            await storage.log.head(),
            gone
              ? `the log no longer holds position ${applied}, the last applied here`
              : `the log holds another entry at position ${applied}, the last applied here`,
          );
          return;
        }
        next = 1;
      }
      if (records.length === next) {
        // Nothing past what was applied: entries heard past a gap belong to
        // commits not yet visible to this read; their notifications follow.
        return;
      }
      for (const r of records.slice(next)) {
        if (r.seq !== applied + 1n) {
          const why = `the shared log skips from ${applied} to ${r.seq}`;
          divergedAt(await storage.log.head(), why);
          throw new Error(`conclave: ${why}`);
        }
        await applyOne(r.seq, r.data);
      }
      wakeApplied();
      // A full batch: more may follow that no notification will announce.
      if (records.length - next >= readBatch) mustRead = true;
    }
  }

  /** The most entries kept from notifications while a read is behind them. */
  const heardLimit = 10_000;

  /** A notification (with the commit's entries) or a "read the log" (without). */
  function onAppended(records?: LogRecord[]): void {
    if (records === undefined) mustRead = true;
    else
      for (const r of records) {
        if (r.seq <= applied) continue;
        if (heard.size >= heardLimit) {
          heard.clear();
          mustRead = true;
          break;
        }
        heard.set(r.seq, r.data);
      }
    followQuietly();
  }

  /** Runs one catch-up at a time; a call during one makes it go round again. */
  function follow(): Promise<void> {
    if (following !== undefined) {
      followAgain = true;
      return following;
    }
    following = (async () => {
      try {
        do {
          followAgain = false;
          await catchUp();
        } while (followAgain && !closed);
      } finally {
        following = undefined;
      }
    })();
    return following;
  }

  const followQuietly = () => {
    follow().catch(() => undefined); // the next notification or poll tries again
  };

  // --- Propose (group commit) --------------------------------------------
  let queue: Array<{ id: bigint; append: LogAppend }> = [];
  let appending = false;

  /**
   * Settles the proposals of an append whose outcome is unknown from the
   * log. One whose entry is there was answered when it was applied. One
   * whose entry is not there up to a head read after the failure gets "no
   * leader" (clientv3 retries a write on that alone, as one never proposed),
   * unless the append got no answer at all (`stillRunning`): its statement
   * may still be running and commit later, so nothing read now proves it
   * will not — it gets "request timed out" (it may have happened), after
   * `confirmMs` more of watching for it.
   */
  async function confirm(ids: readonly bigint[], stillRunning: boolean): Promise<void> {
    const deadline = Date.now() + confirmMs;
    for (;;) {
      try {
        const head = await checkedHead();
        mustRead = true;
        await follow();
        await waitAppliedFor(head);
        if (!stillRunning) {
          // Still pending: not in the log up to a head read after the failure.
          for (const id of ids) {
            const p = proposals.get(id);
            if (p !== undefined) {
              proposals.delete(id);
              p.fail(errNoLeader);
            }
          }
          return;
        }
        if (ids.every((id) => !proposals.has(id))) return;
        // Still running perhaps: look again until the deadline.
      } catch {
        // Not reachable: try again until the deadline.
      }
      if (closed || Date.now() >= deadline) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    for (const id of ids) {
      const p = proposals.get(id);
      if (p !== undefined) {
        proposals.delete(id);
        p.fail(errTimeout);
      }
    }
  }

  async function flush(): Promise<void> {
    appending = true;
    while (queue.length > 0 && !closed) {
      const batch = queue;
      queue = [];
      try {
        const last = await timed(storage.log.append(batch.map((b) => b.append)), 2 * confirmMs);
        // The batch took positions last-len+1..last. Following may already
        // have applied them (the commit's notification can beat the reply):
        // then they were settled there. One still pending at a position this
        // replica applied means that position held another entry before: the
        // shared log lost entries (an asynchronous failover).
        const first = last - BigInt(batch.length) + 1n;
        if (batch.some((b, i) => proposals.has(b.id) && first + BigInt(i) <= applied)) {
          divergedAt(
            last,
            `an append was given positions ${first}..${last}, and ${first} was applied here as another entry`,
          );
          for (const b of batch) {
            proposals.get(b.id)?.fail(errNoLeader);
            proposals.delete(b.id);
          }
          continue;
        }
        // Following applies the batch (from memory, once the entries before
        // it are applied) and answers its proposals; the next append does not
        // wait for that (the log's lock is what orders them). A catch-up that
        // fails leaves them to the next notification or poll.
        for (const [i, b] of batch.entries()) {
          const seq = first + BigInt(i);
          if (seq > applied) appended.set(seq, b.append.data);
        }
        if (applied < last) followQuietly();
      } catch (err) {
        await confirm(
          batch.map((b) => b.id),
          err instanceof NoAnswerError,
        );
      }
    }
    appending = false;
  }

  // --- ReadIndex (batched) ------------------------------------------------
  let readers: Array<Pending> = [];
  let reading = false;

  async function readRound(): Promise<void> {
    reading = true;
    while (readers.length > 0) {
      const batch = readers;
      readers = [];
      try {
        const head = await checkedHead();
        if (head > applied) {
          // Behind the head: read what memory may not hold (a notification
          // missed while the connection was down), not only wait for it.
          mustRead = true;
          followQuietly();
        }
        await waitAppliedFor(head);
        if (lost !== undefined) throw errNoLeader;
        for (const r of batch) r.ok(undefined);
      } catch {
        for (const r of batch) r.fail(errNoLeader);
      }
    }
    reading = false;
  }

  return {
    async start() {
      mustRead = true;
      await follow();
      stopFollowing = storage.log.onAppended(onAppended);
    },

    propose(entry, grant) {
      if (closed || lost !== undefined) return Promise.reject(errNoLeader);
      const id = ++nextRequest;
      entry.proposer = memberId;
      entry.requestId = id;
      const data = toBinary(conclaveLog.LogEntrySchema, entry);
      return new Promise((ok, fail) => {
        proposals.set(id, { ok, fail });
        queue.push({ id, append: grant === undefined ? { data } : { data, grant } });
        if (!appending) {
          appending = true;
          setImmediate(() => void flush());
        }
      });
    },

    readIndex() {
      if (closed || lost !== undefined) return Promise.reject(errNoLeader);
      return new Promise((ok, fail) => {
        readers.push({ ok: () => ok(), fail });
        if (!reading) {
          reading = true;
          setImmediate(() => void readRound());
        }
      });
    },

    applied: () => applied,

    async close() {
      closed = true;
      stopFollowing?.();
      await following?.catch(() => undefined);
      for (const p of proposals.values()) p.fail(errNoLeader);
      proposals.clear();
      for (const r of readers) r.fail(errNoLeader);
      readers = [];
    },

    onDiverged(listener) {
      diverged.add(listener);
      return () => diverged.delete(listener);
    },
  };
}
