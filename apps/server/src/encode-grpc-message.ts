/**
 * Percent-encodes a status message as the gRPC spec and grpc-go do: only
 * bytes outside printable ASCII (0x20–0x7E) and "%" itself. Connect uses
 * encodeURIComponent, which also escapes ":" and spaces; grpc-go decodes
 * either, but grpc-js (the `etcd3` npm package, most Node gRPC clients) only
 * undoes what `decodeURI` does and would show "etcdserver%3A mvcc%3A …".
 */
export function encodeGrpcMessage(message: string): string {
  let out = "";
  for (const byte of new TextEncoder().encode(message)) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

function decodeOrKeep(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/**
 * Re-encodes the `grpc-message` of a header or trailer set in grpc-go's form
 * ({@link encodeGrpcMessage}), in place.
 *
 * Why here: Connect writes the status inside its gRPC handler
 * (`setTrailerStatus` in @connectrpc/connect/protocol-grpc) with
 * encodeURIComponent and has no option for another encoding, so the edge
 * where a response leaves for Node — the one place every gRPC answer passes
 * (connect-edge-plugin.ts for Connect, grpc-unary-fast-path.ts for the direct
 * path) — turns it into grpc-go's. Any percent-decoder reads both forms, so
 * decoding then encoding keeps the message and is idempotent.
 */
export function useGrpcGoMessageEncoding(headers: Headers): void {
  const message = headers.get("grpc-message");
  if (message !== null) headers.set("grpc-message", encodeGrpcMessage(decodeOrKeep(message)));
}
