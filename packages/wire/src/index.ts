// Public surface of @conclave/wire: the few rules of Conclave's wire that
// the server, the client and the dashboard must agree on, written once.
//
// Why a package of its own rather than a hand-written module in
// @conclave/proto: @conclave/core needs the same rules (prefixEnd, the range
// end rule) and is deliberately free of protobuf and transport, while the
// client and dashboard must never depend on core (it holds LMDB). A package
// with no dependencies at all is the one place every one of them can import
// from without dragging anything along. It is browser-safe: its typecheck
// has neither Node nor DOM types.

export {
  type ElectionKeys,
  electionKeys,
  internalPrefix,
  leaderElectionPrefix,
  type ParsedElectionKey,
  parseElectionKey,
} from "./election-keys.js";
export { prefixEnd } from "./prefix-end.js";
export { type RangeEnd, toRangeEnd, toWatchRange, type WatchRange } from "./range-end.js";
export { defaultSessionTtl } from "./session-ttl.js";
