import { errCompacted, errUserEmpty } from "@conclave/core";
import { EventReason, type LeaderElectionService } from "@conclave/proto";
import { electionKeys, prefixEnd } from "@conclave/wire";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { callerOf, prefixAuthorizer } from "../auth-guard.js";
import type { LocalClient } from "../local-client.js";
import type { ServerContext } from "../server-context.js";
import { revocableStream } from "../stream-access.js";
import { isListed, type LineOp, type LineReason, parseLineState } from "./election-line.js";
import { createElectionStore, type ElectionStore } from "./election-store.js";
import { ElectionInputError, errElectionNotFound } from "./errors.js";

const enc = new TextEncoder();

const reasonToProto: Record<LineReason, EventReason> = {
  entered: EventReason.ENTERED,
  withdrew: EventReason.WITHDREW,
  lease_expired: EventReason.LEASE_EXPIRED,
  anointed: EventReason.ANOINTED,
  promoted: EventReason.PROMOTED,
  demoted: EventReason.DEMOTED,
  evicted: EventReason.EVICTED,
  created: EventReason.CREATED,
  closed: EventReason.CLOSED,
};

function need(value: string, what: string): string {
  if (value === "") throw new ElectionInputError(`conclave: ${what} is not provided`);
  return value;
}

/**
 * conclave.v1.LeaderElectionService over the in-process client: validation,
 * then a line change or read through the {@link ElectionStore} (the key
 * layout is described there) acting for the caller, whose check — READ, and
 * WRITE for a change, on the election's whole prefix — the applier runs
 * inside each read and write. Starts nothing: taking candidates whose
 * lease expired out of their line is {@link createLeaderElectionExpiry}'s duty,
 * started with the server.
 *
 * @param elections Default a store of its own over `c`.
 */
export function createLeaderElectionService(
  ctx: ServerContext,
  c: LocalClient,
  elections: ElectionStore = createElectionStore(ctx, c),
): Partial<ServiceImpl<typeof LeaderElectionService>> {
  const { read, readAll, mutate, toTerm } = elections;

  /**
   * The in-process client acting for the caller, who needs READ, and WRITE
   * for changes, on the election's keys.
   */
  const as = (hctx: HandlerContext, election: string, write: boolean) =>
    c.as(prefixAuthorizer(ctx, hctx, electionKeys(election).prefix, write));

  /**
   * Whether the caller may READ the keys of `election` (what GetTerm needs):
   * List shows only those, as LeaseTimeToLive shows only the key names the
   * caller could read. A token must be valid; with auth on, a caller must be
   * named (etcd's "user name is empty"), rather than get an empty list.
   */
  function readableBy(hctx: HandlerContext): (election: string) => boolean {
    const info = callerOf(ctx, hctx);
    if (!ctx.auth.isEnabled()) return () => true;
    if (info === undefined || info.username === "") throw errUserEmpty;
    return (election) => {
      const pfx = enc.encode(electionKeys(election).prefix);
      return ctx.auth.isPermitted(info, pfx, prefixEnd(pfx), "read");
    };
  }

  const candidateOp =
    (op: "withdraw" | "evict" | "anoint" | "promote" | "demote") =>
    async (req: { election: string; candidateId: string }, hctx: HandlerContext) => {
      const election = need(req.election, "election");
      const by = as(hctx, election, true);
      return {
        term: await mutate(election, () => ({ op, id: need(req.candidateId, "candidate_id") }), by),
      };
    };

  const service: Partial<ServiceImpl<typeof LeaderElectionService>> = {
    async create(req, hctx) {
      const election = need(req.election, "election");
      return { term: await mutate(election, { op: "create" }, as(hctx, election, true)) };
    },
    async close(req, hctx) {
      const election = need(req.election, "election");
      return { term: await mutate(election, { op: "close" }, as(hctx, election, true)) };
    },
    async list(_req, hctx) {
      const readable = readableBy(hctx);
      const { elections: all, rev } = await readAll();
      const listed = all
        .filter((e) => isListed(e.state) && readable(e.election))
        .sort((a, b) => (a.election < b.election ? -1 : a.election > b.election ? 1 : 0));
      return {
        elections: listed.map((e) => toTerm(e.election, e.state, e.stateRev, e.leaderRev)),
        revision: BigInt(rev),
      };
    },
    async enter(req, hctx) {
      const election = need(req.election, "election");
      const enter = (): LineOp => ({
        op: "enter",
        candidate: { id: need(req.candidateId, "candidate_id"), lease: req.lease.toString() },
      });
      return { term: await mutate(election, enter, as(hctx, election, true)) };
    },
    withdraw: candidateOp("withdraw"),
    evict: candidateOp("evict"),
    anoint: candidateOp("anoint"),
    promote: candidateOp("promote"),
    demote: candidateOp("demote"),
    async getTerm(req, hctx) {
      const election = need(req.election, "election");
      const snap = await read(election, as(hctx, election, false));
      if (snap.state === undefined) throw errElectionNotFound(election);
      return { term: toTerm(election, snap.state, snap.stateRev, snap.leaderRev) };
    },
    async *events(req, hctx) {
      const election = need(req.election, "election");
      const by = as(hctx, election, false);
      const k = electionKeys(election);
      // READ on the election's keys, checked by each read and watch, for as long as the stream lasts.
      const pfx = enc.encode(k.prefix);
      const stream = revocableStream(ctx, hctx, pfx, prefixEnd(pfx));
      try {
        yield* electionEvents(by, election, req.startRevision, stream.signal);
        stream.throwIfRevoked();
      } finally {
        stream.close();
      }
    },
  };
  return service;

  async function* electionEvents(
    by: LocalClient,
    election: string,
    startRevision: bigint,
    signal: AbortSignal,
  ) {
    const k = electionKeys(election);
    const stateKey = enc.encode(k.state);
    let leaderRev = 0;
    /** Next revision to watch from; undefined: open with the current state. */
    let from: number | undefined;
    let compactRevision = 0;
    if (startRevision > 0n) {
      const start = Number(startRevision);
      try {
        // The leader key's revision as of just before the replay, so replayed
        // terms carry the leader revision they had then.
        if (start > 1) {
          const before = await by.range(enc.encode(k.leader), { revision: BigInt(start - 1) });
          leaderRev = Number(before.kvs[0]?.modRevision ?? 0n);
        }
        from = start;
      } catch (err) {
        if (err !== errCompacted) throw err;
        compactRevision = ctx.store.compactRev();
      }
    }
    for (;;) {
      if (from === undefined) {
        const snap = await read(election, by);
        leaderRev = snap.leaderRev;
        yield {
          reason: EventReason.CURRENT,
          candidateId: snap.state?.candidates[0]?.id ?? "",
          term: toTerm(election, snap.state, snap.stateRev, leaderRev),
          compactRevision: BigInt(compactRevision),
        };
        from = snap.rev + 1;
      }
      let compacted: number | undefined;
      for await (const wr of by.watch(stateKey, { rev: from }, signal)) {
        if (wr.compactRevision !== undefined) {
          compacted = wr.compactRevision;
          break;
        }
        for (const e of wr.events) {
          if (e.type !== "put") continue;
          const state = parseLineState(e.kv.value);
          const rev = Number(e.kv.modRevision);
          if (state.last.elected) leaderRev = rev;
          const term = toTerm(election, state, rev, leaderRev);
          yield {
            reason: reasonToProto[state.last.reason],
            candidateId: state.last.candidate,
            term,
          };
          if (state.last.elected) {
            yield { reason: EventReason.ELECTED, candidateId: term.leader, term };
          }
          // The election ended: so does the stream, with an OK status.
          if (state.last.reason === "closed") return;
        }
      }
      if (compacted === undefined) return; // the call ended
      // History needed by the replay was compacted meanwhile: resync.
      compactRevision = compacted;
      from = undefined;
    }
  }
}
