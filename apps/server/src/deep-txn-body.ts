import { cutDeepTxn, maxTxnNesting } from "@conclave/server";

/**
 * The request body of a KV/Txn call Connect's router serves over gRPC or
 * gRPC-Web, with a txn nested deeper than the decoder goes cut to what
 * validation reads (packages/server deep-txn.ts), so Connect decodes it and
 * validation answers etcd's error — as the direct paths and the gateway do
 * after their decoder refused such a request. Connect decodes before any
 * handler or interceptor runs and has no hook for it, hence the body.
 *
 * A unary call's body is one envelope, which Connect waits for whole (and
 * for the body's end) before calling the handler; this holds the body (up
 * to `maxBytes` and an envelope header, beyond which a size limit refuses
 * it) and hands it on at its end: as it came when nothing nests that deep (a
 * comparison for any body under the 2 KiB a 513-level txn needs, and one
 * scan of the bytes for a larger one), else with each uncompressed
 * envelope's message cut.
 */
export async function* cutDeepTxnBody(
  body: AsyncIterable<Uint8Array>,
  options: { format: "binary" | "json"; maxBytes: number },
): AsyncIterable<Uint8Array> {
  const held: Uint8Array[] = [];
  let size = 0;
  let passing = false;
  try {
    for await (const chunk of body) {
      if (passing) {
        yield chunk;
        continue;
      }
      held.push(chunk);
      size += chunk.length;
      if (size > options.maxBytes + 5) {
        // Too large for any limit: the size check answers it, untouched.
        passing = true;
        yield* held.splice(0);
      }
    }
  } catch (e) {
    // What came before an error reaches Connect before it, as it would have.
    yield* held.splice(0);
    throw e;
  }
  if (passing) return;
  yield* cutDeepTxnChunks(held, size, options.format);
}

/**
 * The chunks of an enveloped KV/Txn body held whole (`size` bytes, at most
 * the size limit and an envelope header), as {@link cutDeepTxnBody} hands
 * them on: as they came when nothing can nest that deep, else one buffer
 * with each uncompressed envelope's message cut. Shared with the gRPC-Web
 * direct path, which reads such a body as Connect reads it after this.
 */
export function cutDeepTxnChunks(
  held: readonly Uint8Array[],
  size: number,
  format: "binary" | "json",
): readonly Uint8Array[] {
  // Too short to nest that deep (each level takes at least 4 bytes).
  if (size < 4 * maxTxnNesting) return held;
  const all = held.length === 1 ? (held[0] as Uint8Array) : Buffer.concat(held, size);
  return [cutEnvelopes(all, format) ?? all];
}

/** The enveloped body with each uncompressed message cut, or undefined when none was. */
function cutEnvelopes(all: Uint8Array, format: "binary" | "json"): Uint8Array | undefined {
  const view = new DataView(all.buffer, all.byteOffset, all.byteLength);
  const parts: Uint8Array[] = [];
  let changed = false;
  let at = 0;
  while (at + 5 <= all.length) {
    const flags = all[at] as number;
    const length = view.getUint32(at + 1);
    if (at + 5 + length > all.length) break;
    const message = all.subarray(at + 5, at + 5 + length);
    const cut = flags === 0 ? cutDeepTxn(message, format) : undefined;
    if (cut === undefined) {
      parts.push(all.subarray(at, at + 5 + length));
    } else {
      const header = new Uint8Array(5);
      new DataView(header.buffer).setUint32(1, cut.length);
      parts.push(header, cut);
      changed = true;
    }
    at += 5 + length;
  }
  if (!changed) return undefined;
  parts.push(all.subarray(at));
  return Buffer.concat(parts);
}

/**
 * The body of a Connect unary KV/Txn call Connect's router serves, read
 * whole first (Connect reads it whole before decoding anyway): with `cut`,
 * the cut message when a txn nests deeper than the decoder goes — the caller
 * then sets Content-Length to its length, which Connect checks the body
 * against — else the body as it came, which Connect reads and checks as
 * before. A body over `maxBytes`, or one whose reading fails, is handed on
 * as it came, the failure included.
 */
export async function cutDeepTxnUnaryBody(
  body: AsyncIterable<Uint8Array>,
  options: { format: "binary" | "json"; maxBytes: number },
): Promise<{ body: AsyncIterable<Uint8Array>; cut?: number }> {
  const it = body[Symbol.asyncIterator]();
  const held: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    let r: IteratorResult<Uint8Array>;
    try {
      r = await it.next();
    } catch (e) {
      return { body: replay(held, e) };
    }
    if (r.done === true) break;
    held.push(r.value);
    size += r.value.length;
    if (size > options.maxBytes) return { body: replay(held, undefined, it) };
  }
  if (size >= 4 * maxTxnNesting) {
    const cut = cutDeepTxn(Buffer.concat(held, size), options.format);
    if (cut !== undefined) return { body: replay([cut]), cut: cut.length };
  }
  return { body: replay(held) };
}

/** What was held, then the rest of `it` or the error that ended it. */
async function* replay(
  held: Uint8Array[],
  error?: unknown,
  it?: AsyncIterator<Uint8Array>,
): AsyncIterable<Uint8Array> {
  yield* held;
  if (error !== undefined) throw error;
  if (it === undefined) return;
  for (let r = await it.next(); r.done !== true; r = await it.next()) yield r.value;
}
