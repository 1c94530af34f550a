import type * as http from "node:http";
import type { TLSSocket } from "node:tls";
import { peerCommonNameKey } from "@conclave/server";
import { type ContextValues, createContextValues } from "@connectrpc/connect";
import { transportOf } from "./authority-repair/authority-repair-stream.js";
import type { GrpcCallRequest } from "./grpc-call-objects.js";

/**
 * The verified common name of each connection (HTTP/1.1 socket or HTTP/2
 * session), or null: the certificate is parsed once per connection, not
 * once per request.
 */
const commonNames = new WeakMap<object, string | null>();

/**
 * The subject common name (CN) of the client certificate that the TLS
 * handshake of this request's connection verified against the trusted CA.
 *
 * Undefined on plaintext connections, on TLS connections without a client
 * certificate or whose certificate was not verified (`authorized` false),
 * and for an empty CN. A certificate with several CN attributes yields the
 * last one, as Go's `Subject.CommonName` (etcd's user name) does.
 */
export function verifiedPeerCommonName(
  req: http.IncomingMessage | GrpcCallRequest,
): string | undefined {
  let connection: object | undefined;
  let socket: unknown;
  if ("stream" in req) {
    // The session's `socket` is a proxy that forwards property reads (such
    // as `authorized` and `getPeerCertificate`) to the TLS socket, or to
    // Node's wrapper of an authority repair stream over it.
    connection = req.stream.session;
    socket = req.stream.session?.socket;
  } else {
    connection = req.socket;
    socket = req.socket;
  }
  if (connection === undefined) return undefined;
  let name = commonNames.get(connection);
  if (name === undefined) {
    name = commonNameOf(transportOf(socket));
    commonNames.set(connection, name);
  }
  return name ?? undefined;
}

function commonNameOf(socket: unknown): string | null {
  const s = socket as Partial<TLSSocket> | undefined;
  if (s?.encrypted !== true || s.authorized !== true || s.getPeerCertificate === undefined) {
    return null;
  }
  const cn: unknown = s.getPeerCertificate().subject?.CN;
  const last = Array.isArray(cn) ? cn.at(-1) : cn;
  return typeof last === "string" && last !== "" ? last : null;
}

/**
 * Connect context values for a request: `peerCommonNameKey` set to the
 * verified client certificate's CN when there is one. For the Connect
 * plugin's `contextValues` option and the gateway's in-process calls.
 */
export function peerContextValues(req: http.IncomingMessage | GrpcCallRequest): ContextValues {
  const values = createContextValues();
  const cn = verifiedPeerCommonName(req);
  if (cn !== undefined) values.set(peerCommonNameKey, cn);
  return values;
}
