import type * as net from "node:net";
import { createHpackDecoder } from "./hpack-decoder.js";
import {
  frameFlag,
  frameHeaderLength,
  frameType,
  headersFragment,
  http2Preface,
  isSettingsAck,
  minMaxFrameSize,
  readFrameHeader,
  settingMaxConcurrentStreams,
  settingsFrame,
} from "./http2-frames.js";
import { repairedAuthority } from "./repaired-authority.js";

/**
 * What a new HTTP/2 connection needs: its socket as it is ("native"), a
 * repair of its `:authority` values ("repair"), or — when asked for — the
 * gRPC engine, for a connection whose first request is gRPC ("grpc").
 */
export type FirstRequestVerdict = "native" | "repair" | "grpc";

/**
 * Most bytes held before the first request's header block is complete (a
 * client may send several requests and their bodies before it sees our
 * SETTINGS). Past it the connection goes to Node unchecked.
 */
const maxHeldBytes = 256 * 1024;

/**
 * Reads an HTTP/2 connection (after protocol sniffing or the TLS handshake)
 * up to its first request's header block and tells whether its
 * `:authority` needs repair ({@link repairedAuthority}); then pushes the
 * bytes back onto the paused socket and calls `route` once. All of it in
 * JavaScript, once per connection: from then on Node's HTTP/2 session reads
 * the socket natively, so requests pay nothing for the check.
 *
 * The check must not hold up a client that waits for the server's SETTINGS
 * before its first request (grpc-go does), yet the session that will serve
 * the connection cannot exist before the verdict: so it answers the
 * client's preface at once with a SETTINGS frame of its own (the server's
 * preface; Node's session sends its full settings later, which clients
 * apply on arrival) and removes the client's acknowledgement of it from the
 * bytes handed on, which Node would take for an unexpected ACK of its own
 * settings. That frame carries only `maxConcurrentStreams`, the one setting
 * that restricts the client (a larger window or frame size announced before
 * Node's session applies it would make Node refuse what the client sends).
 * Clients that send requests without waiting therefore wait one round trip
 * for the first answer (the ACK); later requests do not.
 *
 * "native" also goes for connections that send anything but SETTINGS,
 * WINDOW_UPDATE and PRIORITY before their first request (a PING: their
 * first request may be long in coming), whose first bytes are no HTTP/2 or
 * a frame larger than the default maximum (Node answers those with an
 * error), that hold more than 256 KiB before it, or whose first request has not
 * come within `timeoutMs` after the ACK. A connection that has not
 * acknowledged our SETTINGS within `timeoutMs` is destroyed (0: no limit).
 */
export function checkFirstRequest(
  socket: net.Socket,
  options: {
    timeoutMs: number;
    maxConcurrentStreams: number;
    /** Whether a first request of `application/grpc[+proto]` gets "grpc" (default false). */
    grpc?: boolean;
  },
  route: (verdict: FirstRequestVerdict) => void,
): void {
  const { timeoutMs } = options;
  /** What Node will get: everything read so far but our ACK. */
  const kept: Buffer[] = [];
  let pending: Buffer = Buffer.alloc(0);
  let held = 0;
  let prefaceChecked = false;
  let acked = false;
  let done = false;
  /** Header block fragments of the first request, until END_HEADERS. */
  let firstBlock: Buffer[] | undefined;
  let firstVerdict: FirstRequestVerdict | undefined;

  const finish = (verdict: FirstRequestVerdict) => {
    done = true;
    clearTimeout(timer);
    socket.removeListener("data", onData);
    socket.removeListener("close", onClose);
    socket.pause();
    socket.unshift(Buffer.concat([...kept, pending]));
    route(verdict);
  };
  const onClose = () => {
    done = true;
    clearTimeout(timer);
    socket.removeListener("data", onData);
  };
  const timer =
    timeoutMs > 0
      ? setTimeout(() => {
          if (done) return;
          if (acked) finish("native");
          else socket.destroy();
        }, timeoutMs)
      : undefined;

  /** Reads whole frames from `pending`; returns a verdict once there is one. */
  const readFrames = (): FirstRequestVerdict | undefined => {
    if (!prefaceChecked) {
      if (pending.length < http2Preface.length) return undefined;
      if (!pending.subarray(0, http2Preface.length).equals(http2Preface)) return "native";
      kept.push(pending.subarray(0, http2Preface.length));
      pending = pending.subarray(http2Preface.length);
      prefaceChecked = true;
    }
    for (;;) {
      if (acked && firstVerdict !== undefined) return firstVerdict;
      if (pending.length < frameHeaderLength) return undefined;
      const header = readFrameHeader(pending, 0);
      // Until Node's session announces its settings, the client may only
      // send frames of the default maximum size: anything larger is a
      // protocol error for Node to answer.
      if (header.length > minMaxFrameSize) return "native";
      const length = frameHeaderLength + header.length;
      if (pending.length < length) return held > maxHeldBytes ? "native" : undefined;
      const frame = pending.subarray(0, length);
      pending = pending.subarray(length);
      if (!acked && isSettingsAck(header)) {
        acked = true;
        continue;
      }
      kept.push(frame);
      if (firstVerdict !== undefined) continue;
      if (firstBlock !== undefined) {
        if (header.type !== frameType.continuation) return "native";
        firstBlock.push(frame.subarray(frameHeaderLength));
      } else if (header.type === frameType.headers) {
        const fragment = headersFragment(header.flags, frame.subarray(frameHeaderLength));
        if (fragment === undefined) return "native";
        firstBlock = [fragment];
      } else if (
        header.type !== frameType.settings &&
        header.type !== frameType.windowUpdate &&
        header.type !== frameType.priority
      ) {
        // Not waiting for a request: our ACK may still be under way, but
        // Node must see this frame now (a PING wants its answer).
        if (acked) return "native";
        firstVerdict = "native";
        continue;
      }
      if (firstBlock !== undefined && header.flags & frameFlag.endHeaders) {
        firstVerdict = verdictOf(Buffer.concat(firstBlock), options.grpc === true);
        firstBlock = undefined;
      }
    }
  };
  const onData = (chunk: Buffer) => {
    if (done) return;
    held += chunk.length;
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    const verdict = readFrames();
    if (verdict !== undefined) finish(verdict);
  };

  socket.on("data", onData);
  socket.once("close", onClose);
  socket.write(settingsFrame([[settingMaxConcurrentStreams, options.maxConcurrentStreams]]));
  socket.resume();
}

/**
 * "repair" if the header block has an `:authority` with a URL scheme; else
 * "grpc" if `grpc` and the request is gRPC (what etcd clients send on every
 * request of a connection); else "native".
 */
function verdictOf(block: Buffer, grpc: boolean): FirstRequestVerdict {
  try {
    const fields = createHpackDecoder().decode(block);
    const needsRepair = fields.some(
      (f) => f.name === ":authority" && repairedAuthority(f.value) !== undefined,
    );
    if (needsRepair) return "repair";
    const isGrpc = fields.some(
      (f) =>
        f.name === "content-type" &&
        (f.value === "application/grpc" || f.value === "application/grpc+proto"),
    );
    return grpc && isGrpc ? "grpc" : "native";
  } catch {
    return "native"; // Malformed: Node's session will answer it.
  }
}
