import * as http2 from "node:http2";
import type * as net from "node:net";
import { Duplex } from "node:stream";
import { setTransport } from "../authority-repair/authority-repair-stream.js";
import type { GrpcEngineStream } from "./grpc-engine-stream.js";

/**
 * One end of an in-process byte pipe: what is written to one end is read
 * from the other (Node 20 has no `duplexPair`).
 */
class PipeEnd extends Duplex {
  other: PipeEnd | undefined;

  override _write(
    chunk: Buffer,
    _encoding: BufferEncoding,
    callback: (error?: Error | null) => void,
  ) {
    this.other?.push(chunk);
    callback();
  }

  override _final(callback: (error?: Error | null) => void) {
    this.other?.push(null);
    callback();
  }

  override _read() {}

  override _destroy(error: Error | null, callback: (error?: Error | null) => void) {
    const other = this.other;
    this.other = undefined;
    if (other !== undefined && !other.destroyed) other.destroy();
    callback(error);
  }
}

/**
 * Hands a request the direct gRPC paths did not take (an unknown method, a
 * compressed request, any call while the server shuts down) to Node's HTTP/2
 * server over an in-process HTTP/2 connection, and relays the answer frame by
 * frame, so such a request gets exactly what it got before the engine: the
 * same Fastify and Connect code answers it.
 *
 * One link per engine connection, made on its first such request; Node's
 * server sees `socket` behind it (setTransport), so a client certificate
 * still names the caller.
 */
export interface NodeFallback {
  forward(stream: GrpcEngineStream): void;
  close(): void;
}

/**
 * Fields of an answer Node's server sent, without pseudo-headers and without
 * `date`, which the engine adds itself.
 */
function plainFields(h: http2.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(h)) {
    if (name.startsWith(":") || name === "date" || value === undefined) continue;
    out[name] = Array.isArray(value) ? value.join(", ") : String(value);
  }
  return out;
}

export function createNodeFallback(
  accept: (link: Duplex) => void,
  socket: net.Socket,
): NodeFallback {
  let client: http2.ClientHttp2Session | undefined;

  function session(): http2.ClientHttp2Session {
    if (client !== undefined && !client.destroyed && !client.closed) return client;
    const near = new PipeEnd();
    const far = new PipeEnd();
    near.other = far;
    far.other = near;
    setTransport(far, socket);
    accept(far);
    const created = http2.connect("http://engine.invalid", {
      createConnection: () => near,
      settings: { enablePush: false },
    });
    created.on("error", () => {});
    client = created;
    return created;
  }

  function forward(stream: GrpcEngineStream): void {
    const { req, res } = stream;
    const headers: http2.OutgoingHttpHeaders = {};
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i] as string;
      const value = req.rawHeaders[i + 1] as string;
      // Connection-specific fields are not allowed in HTTP/2 anyway.
      const prior = headers[name];
      headers[name] = prior === undefined ? value : `${String(prior)}, ${value}`;
    }
    let upstream: http2.ClientHttp2Stream;
    try {
      upstream = session().request(headers, { endStream: false });
    } catch {
      stream.abort(http2.constants.NGHTTP2_INTERNAL_ERROR);
      return;
    }
    // Node's client can emit a DATA frame's "data" before the "response"
    // of the HEADERS frame ahead of it: hold such bytes until it has.
    let early: Buffer[] | undefined = [];
    let endedEarly = false;
    const relay = (chunk: Buffer) => {
      if (!res.write(chunk)) {
        upstream.pause();
        res.once("drain", () => upstream.resume());
      }
    };
    upstream.on("response", (h, flags) => {
      const status = Number(h[":status"] ?? 200);
      const fields = plainFields(h);
      // A HEADERS frame that ended the stream (a trailers-only gRPC answer) stays one.
      if ((flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0) {
        early = undefined;
        stream.respondAndEnd(status, fields);
        return;
      }
      res.writeHead(status, fields);
      const held = early ?? [];
      early = undefined;
      for (const chunk of held) relay(chunk);
      if (endedEarly && !stream.destroyed) res.end();
    });
    upstream.on("data", (chunk: Buffer) => {
      if (early !== undefined) early.push(chunk);
      else relay(chunk);
    });
    upstream.on("trailers", (t) => res.addTrailers(plainFields(t)));
    upstream.on("end", () => {
      if (early !== undefined) endedEarly = true;
      else if (!stream.destroyed) res.end();
    });
    upstream.on("close", () => {
      // Node reset the stream (or the link went away) before a complete answer.
      if (!res.writableEnded && !stream.destroyed) {
        stream.abort(upstream.rstCode ?? http2.constants.NGHTTP2_INTERNAL_ERROR);
      }
    });
    upstream.on("error", () => {});
    req.on("data", (chunk: Buffer) => {
      if (!upstream.write(chunk)) {
        req.pause();
        upstream.once("drain", () => req.resume());
      }
    });
    req.on("end", () => upstream.end());
    req.on("close", () => {
      if (stream.rstCode !== undefined && !upstream.destroyed) upstream.close(stream.rstCode);
    });
  }

  return {
    forward,
    close() {
      client?.destroy();
      client = undefined;
    },
  };
}
