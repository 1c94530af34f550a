import {
  type BinaryReadOptions,
  type DescMessage,
  fromBinary,
  type JsonObject,
  type JsonValue,
  type MessageShape,
} from "@bufbuild/protobuf";
import { maxTxnNesting } from "./validation.js";

/**
 * Txns nested deeper than any decoder should follow (issue #15 §4).
 *
 * etcd's decoder reads a TxnRequest of any depth (Go's stack grows), then its
 * checkTxnRequest walks it depth-first and answers InvalidArgument
 * `etcdserver: too many operations in txn request` where the op budget runs
 * out — at level 129 with the default `--max-txn-ops` — unless an earlier
 * check of that walk (an empty key, an empty RequestOp…) fails first.
 * Conclave's decoders stop at `maxMessageDepth` (protobuf-es
 * `recursionLimit`) to stay far from the JS stack limit, and its validation
 * refuses any txn deeper than {@link maxTxnNesting} levels.
 *
 * So nothing below level `maxTxnNesting + 1` can change the answer: the walk
 * refuses a txn at that level before reading anything in it. Here a request
 * is *cut* to what the checks read — every txn at level `maxTxnNesting + 1`
 * emptied, so it still stands where etcd's walk meets the too-deep branch —
 * and the cut request, which every decoder reads, goes to the one
 * validation (`checkTxnRequest`) and the one error table like any other:
 * every door answers etcd's error, in etcd's order.
 *
 * The cut reads the levels it keeps with recursion bounded by
 * `maxTxnNesting + 1` levels (as deep as the decoders go anyway); the scans
 * that decide whether to cut are loops. Nothing here is reached by a request
 * that decodes normally: the doors call it when the decoder refused a
 * KV/Txn request, or (Connect's router, whose decoder has no hook) after a
 * scan that stops at once for requests too small to nest that deep.
 */

/** The message type whose nesting is cut. */
export const txnRequestTypeName = "etcdserverpb.TxnRequest";

/** The level whose txns are emptied: validation refuses them before reading them. */
const cutLevel = maxTxnNesting + 1;

/** Thrown by the wire readers at bytes they cannot read; callers keep the decoder's answer. */
const unreadable = new Error("unreadable");

const wireVarint = 0;
const wireI64 = 1;
const wireLen = 2;
const wireStartGroup = 3;
const wireEndGroup = 4;
const wireI32 = 5;

/** A varint at `at`: its value and the position after it. Values up to 2^53 are exact. */
function readVarint(buf: Uint8Array, at: number, end: number, out: { at: number }): number {
  let value = 0;
  let scale = 1;
  for (let i = at; i < end && i < at + 10; i++) {
    const b = buf[i] as number;
    value += (b & 0x7f) * scale;
    if (b < 0x80) {
      out.at = i + 1;
      return value;
    }
    scale *= 128;
  }
  throw unreadable;
}

/**
 * Skips the field whose tag was just read (`pos.at` is after the tag):
 * groups with a loop and a stack of field numbers, however deep.
 */
function skipField(
  buf: Uint8Array,
  end: number,
  fieldNo: number,
  wireType: number,
  pos: { at: number },
): void {
  const groups: number[] = [];
  let no = fieldNo;
  let wt = wireType;
  for (;;) {
    switch (wt) {
      case wireVarint:
        readVarint(buf, pos.at, end, pos);
        break;
      case wireI64:
        pos.at += 8;
        break;
      case wireI32:
        pos.at += 4;
        break;
      case wireLen: {
        const length = readVarint(buf, pos.at, end, pos);
        pos.at += length;
        break;
      }
      case wireStartGroup:
        groups.push(no);
        break;
      case wireEndGroup:
        if (groups.pop() !== no) throw unreadable;
        break;
      default:
        throw unreadable;
    }
    if (pos.at > end) throw unreadable;
    if (groups.length === 0) return;
    const tag = readVarint(buf, pos.at, end, pos);
    no = Math.floor(tag / 8);
    wt = tag % 8;
    if (no === 0) throw unreadable;
  }
}

/**
 * Does the binary TxnRequest nest a txn deeper than `levels` (the outermost
 * txn is level 1)? A loop over the bytes that only enters RequestOps
 * (TxnRequest fields 2 and 3) and their `request_txn` (field 4); false for
 * bytes it cannot read, which the decoder then answers.
 */
export function txnNestsDeeper(bytes: Uint8Array, levels: number): boolean {
  // Each level holding a txn spends at least 4 bytes (a RequestOp's tag and
  // length, its request_txn's tag and length): shorter bytes cannot nest so.
  if (bytes.length < 4 * levels) return false;
  const pos = { at: 0 };
  // The enclosing messages' ends, kinds and levels, innermost last.
  const ends: number[] = [];
  const inOps: boolean[] = [];
  let end = bytes.length;
  let inOp = false;
  let level = 1;
  try {
    for (;;) {
      if (pos.at === end) {
        const outer = ends.pop();
        if (outer === undefined) return false;
        if (!inOp) level--;
        end = outer;
        inOp = inOps.pop() as boolean;
        continue;
      }
      const tag = readVarint(bytes, pos.at, end, pos);
      const fieldNo = Math.floor(tag / 8);
      const wireType = tag % 8;
      if (fieldNo === 0) return false;
      const enters = inOp ? fieldNo === 4 : fieldNo === 2 || fieldNo === 3;
      if (enters && wireType === wireLen) {
        const length = readVarint(bytes, pos.at, end, pos);
        if (pos.at + length > end) return false;
        if (inOp && ++level > levels) return true;
        ends.push(end);
        inOps.push(inOp);
        end = pos.at + length;
        inOp = !inOp;
        continue;
      }
      skipField(bytes, end, fieldNo, wireType, pos);
    }
  } catch (e) {
    if (e === unreadable) return false;
    throw e;
  }
}

/** Output of a cut: pieces in order, and their total length. */
interface Cut {
  pieces: Uint8Array[];
  length: number;
}

function emit(cut: Cut, piece: Uint8Array): void {
  cut.pieces.push(piece);
  cut.length += piece.length;
}

function varintBytes(n: number): Uint8Array {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return Uint8Array.from(out);
}

/**
 * Starts a length-delimited field whose payload is emitted next: a
 * placeholder for its tag and length, which {@link endNested} fills in.
 */
function beginNested(cut: Cut): { at: number; before: number } {
  cut.pieces.push(new Uint8Array(0));
  return { at: cut.pieces.length - 1, before: cut.length };
}

function endNested(cut: Cut, tag: number, started: { at: number; before: number }): void {
  const header = new Uint8Array([...varintBytes(tag), ...varintBytes(cut.length - started.before)]);
  cut.pieces[started.at] = header;
  cut.length += header.length;
}

/** The TxnRequest in `buf[start, end)` at `level`, cut (see the module comment). */
function cutTxn(buf: Uint8Array, start: number, end: number, level: number, cut: Cut): void {
  const pos = { at: start };
  while (pos.at < end) {
    const fieldStart = pos.at;
    const tag = readVarint(buf, pos.at, end, pos);
    const fieldNo = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (fieldNo === 0) throw unreadable;
    if (fieldNo > 3) {
      // Unknown to TxnRequest: no check reads it.
      skipField(buf, end, fieldNo, wireType, pos);
      continue;
    }
    if (wireType !== wireLen) throw unreadable;
    const length = readVarint(buf, pos.at, end, pos);
    const payload = pos.at;
    pos.at += length;
    if (pos.at > end) throw unreadable;
    if (fieldNo === 1) {
      emit(cut, buf.subarray(fieldStart, pos.at)); // a Compare, as sent
    } else {
      const started = beginNested(cut);
      cutOp(buf, payload, pos.at, level, cut);
      endNested(cut, tag, started);
    }
  }
}

/** The RequestOp in `buf[start, end)` of a txn at `level`, cut. */
function cutOp(buf: Uint8Array, start: number, end: number, level: number, cut: Cut): void {
  const pos = { at: start };
  while (pos.at < end) {
    const fieldStart = pos.at;
    const tag = readVarint(buf, pos.at, end, pos);
    const fieldNo = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (fieldNo === 0) throw unreadable;
    if (fieldNo > 4) {
      skipField(buf, end, fieldNo, wireType, pos);
      continue;
    }
    if (wireType !== wireLen) throw unreadable;
    const length = readVarint(buf, pos.at, end, pos);
    const payload = pos.at;
    pos.at += length;
    if (pos.at > end) throw unreadable;
    if (fieldNo !== 4) {
      emit(cut, buf.subarray(fieldStart, pos.at)); // a Range, Put or DeleteRange, as sent
    } else if (level + 1 >= cutLevel) {
      emit(cut, Uint8Array.of(0x22, 0)); // the too-deep txn, emptied
    } else {
      const started = beginNested(cut);
      cutTxn(buf, payload, pos.at, level + 1, cut);
      endNested(cut, tag, started);
    }
  }
}

/**
 * The binary TxnRequest `bytes` with every txn at level
 * `maxTxnNesting + 1` emptied, unknown fields of its txns and ops left out;
 * undefined when no txn nests that deep or the bytes cannot be read (the
 * decoder's own answer stands). Compares and Range/Put/DeleteRange requests
 * are copied as sent.
 */
export function cutDeepTxnBinary(bytes: Uint8Array): Uint8Array | undefined {
  if (!txnNestsDeeper(bytes, maxTxnNesting)) return undefined;
  const cut: Cut = { pieces: [], length: 0 };
  try {
    cutTxn(bytes, 0, bytes.length, 1, cut);
  } catch (e) {
    if (e === unreadable) return undefined;
    throw e;
  }
  const out = new Uint8Array(cut.length);
  let at = 0;
  for (const piece of cut.pieces) {
    out.set(piece, at);
    at += piece.length;
  }
  return out;
}

const isObject = (v: JsonValue | undefined): v is JsonObject =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Cuts a TxnRequest in the proto3 JSON form (field names as JSON or proto
 * names), in place: every txn object at level `maxTxnNesting + 1` becomes
 * `{}`. Returns whether anything was cut. A loop: it follows only
 * `success`/`failure` arrays and their ops' `requestTxn`/`request_txn`
 * objects, down to the cut level.
 */
export function cutDeepTxnJson(json: JsonValue): boolean {
  if (!isObject(json)) return false;
  let cutAny = false;
  const pending: Array<{ txn: JsonObject; level: number }> = [{ txn: json, level: 1 }];
  for (let item = pending.pop(); item !== undefined; item = pending.pop()) {
    const { txn, level } = item;
    for (const branch of ["success", "failure"]) {
      const ops = txn[branch];
      if (!Array.isArray(ops)) continue;
      for (const op of ops) {
        if (!isObject(op)) continue;
        for (const name of ["requestTxn", "request_txn"]) {
          const inner = op[name];
          if (!isObject(inner)) continue;
          if (level + 1 >= cutLevel) {
            op[name] = {};
            cutAny = true;
          } else {
            pending.push({ txn: inner, level: level + 1 });
          }
        }
      }
    }
  }
  return cutAny;
}

/**
 * How deeply the JSON text nests objects and arrays (outside strings) is
 * more than `depth`? A loop over the characters, for the doors that see
 * JSON text before the decoder does.
 */
export function jsonNestsDeeper(text: string, depth: number): boolean {
  let d = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      if (++d > depth) return true;
    } else if (c === 0x7d || c === 0x5d) {
      d--;
    }
  }
  return false;
}

/**
 * Each txn level is three JSON levels (the txn object, its `success` or
 * `failure` array, the RequestOp object): JSON nested no deeper than this
 * holds no txn at the cut level.
 */
const maxJsonDepthOfKeptTxn = 3 * maxTxnNesting;

/**
 * The JSON text of a TxnRequest cut as {@link cutDeepTxnJson} cuts it, or
 * undefined when it holds no txn that deep (or is not JSON: the decoder
 * answers it). Texts too short or too shallow to nest that deep are not
 * parsed.
 */
export function cutDeepTxnJsonText(text: string): string | undefined {
  // `{"success":[{"requestTxn":` is 26 characters a level.
  if (text.length < 26 * maxTxnNesting || !jsonNestsDeeper(text, maxJsonDepthOfKeptTxn)) {
    return undefined;
  }
  let json: JsonValue;
  try {
    json = JSON.parse(text) as JsonValue;
  } catch {
    return undefined;
  }
  return cutDeepTxnJson(json) ? JSON.stringify(json) : undefined;
}

const utf8 = new TextDecoder();
const utf8Encoder = new TextEncoder();

/**
 * A TxnRequest message's bytes in either format, cut; undefined when nothing
 * nests that deep or the bytes cannot be read.
 */
export function cutDeepTxn(bytes: Uint8Array, format: "binary" | "json"): Uint8Array | undefined {
  if (format === "binary") return cutDeepTxnBinary(bytes);
  if (bytes.length < 26 * maxTxnNesting) return undefined;
  const text = cutDeepTxnJsonText(utf8.decode(bytes));
  return text === undefined ? undefined : utf8Encoder.encode(text);
}

/**
 * `fromBinary` for a door's request message: when the decoder refuses a
 * KV/Txn request that nests past {@link maxTxnNesting} levels, the cut
 * request instead (which validation then refuses as etcd does). Requests
 * that decode cost nothing more.
 */
export function fromBinaryRequest<Desc extends DescMessage>(
  schema: Desc,
  bytes: Uint8Array,
  options?: Partial<BinaryReadOptions>,
): MessageShape<Desc> {
  try {
    return fromBinary(schema, bytes, options);
  } catch (e) {
    const cut = schema.typeName === txnRequestTypeName ? cutDeepTxnBinary(bytes) : undefined;
    if (cut === undefined) throw e;
    return fromBinary(schema, cut, options);
  }
}
