/** A URL scheme and `://` at the start of a value: what `:authority` must not carry. */
const schemePrefix = /^([a-z][a-z0-9+.-]*):\/\//i;

/** Ports implied by the schemes grpc-go's users write. */
const defaultPorts: Readonly<Record<string, string>> = { http: "80", https: "443" };

/**
 * The `:authority` to use instead of one that starts with a URL scheme, or
 * undefined if `value` needs no repair (or cannot be repaired).
 *
 * grpc-go before 1.30 (etcd 3.4's clientv3, so etcdctl) dials an endpoint
 * given as `http://127.0.0.1:2379` with that whole string as `:authority`
 * on the connections it opens to one endpoint (Maintenance calls: `endpoint
 * status`, `defrag`, …). Go's HTTP/2 server takes it; nghttp2, inside Node,
 * resets the stream before any JavaScript runs (grpc/grpc-go#2628,
 * nodejs/help#3422).
 *
 * The repair keeps the host and port and drops the scheme and any path, and
 * it keeps the **length**: the port gets leading zeros (`http://h:2379` →
 * `h:00000002379`; no port: the scheme's default), which RFC 3986 and WHATWG
 * URLs read as the same port. An HPACK table entry's size counts its value's
 * length, so a same-length value keeps the server's dynamic table exactly as
 * large as the client's encoder believes it is, and later requests that name
 * the entry by index get the repaired value without being touched.
 */
export function repairedAuthority(value: string): string | undefined {
  const scheme = schemePrefix.exec(value);
  if (scheme === null) return undefined;
  const rest = value.slice(scheme[0].length);
  const authority = /^[^/?#]*/.exec(rest)?.[0] ?? "";
  // Host, then an optional port: "[v6]:port", "[v6]", "host:port" or "host".
  const parts = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(authority);
  if (parts === null || parts[1] === undefined || parts[1] === "") return undefined;
  const host = parts[1];
  const port = parts[2] || defaultPorts[(scheme[1] ?? "").toLowerCase()];
  if (port === undefined) return undefined;
  const width = value.length - host.length - 1;
  if (width < port.length) return undefined;
  return `${host}:${port.padStart(width, "0")}`;
}
