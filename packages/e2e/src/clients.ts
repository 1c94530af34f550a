import assert from "node:assert/strict";
import { prefixEnd as prefixEndOfBytes } from "@conclave/client";
import { Cluster, KV, Lease, Maintenance } from "@conclave/proto";
import { type Client, Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";

/** The wire protocols Conclave serves on its one port. */
export type Protocol = "grpc" | "grpc-web" | "connect-json" | "connect-binary";

export const protocols: readonly Protocol[] = [
  "grpc",
  "grpc-web",
  "connect-json",
  "connect-binary",
];

/**
 * A Connect transport for one protocol: gRPC over h2c (prior knowledge, as
 * etcdctl speaks it); gRPC-Web and Connect over HTTP/1.1 (as browsers and
 * curl speak them).
 */
export function transportFor(protocol: Protocol, baseUrl: string): Transport {
  switch (protocol) {
    case "grpc":
      return createGrpcTransport({ baseUrl });
    case "grpc-web":
      return createGrpcWebTransport({ baseUrl, httpVersion: "1.1" });
    case "connect-json":
      return createConnectTransport({ baseUrl, httpVersion: "1.1" });
    case "connect-binary":
      return createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true });
  }
}

export interface EtcdClients {
  kv: Client<typeof KV>;
  maintenance: Client<typeof Maintenance>;
  cluster: Client<typeof Cluster>;
  lease: Client<typeof Lease>;
}

/** Clients of the etcd services Conclave serves, over one transport. */
export function etcdClients(transport: Transport): EtcdClients {
  return {
    kv: createClient(KV, transport),
    maintenance: createClient(Maintenance, transport),
    cluster: createClient(Cluster, transport),
    lease: createClient(Lease, transport),
  };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** UTF-8 bytes of a string (etcd keys and values are bytes). */
export function bytes(s: string): Uint8Array {
  return encoder.encode(s);
}

/** A UTF-8 string from bytes. */
export function text(b: Uint8Array): string {
  return decoder.decode(b);
}

/** The range end that selects every key starting with `prefix` (etcd's GetPrefixRangeEnd). */
export function prefixEnd(prefix: string): Uint8Array {
  return prefixEndOfBytes(bytes(prefix));
}

/**
 * Awaits `call` and asserts it fails with exactly this Connect code and raw
 * message (the status a gRPC client sees). Returns the error for further
 * checks.
 */
export async function expectConnectError(
  call: Promise<unknown>,
  code: Code,
  rawMessage: string | RegExp,
): Promise<ConnectError> {
  let error: unknown;
  try {
    await call;
  } catch (e) {
    error = e;
  }
  assert.ok(error !== undefined, `expected ${Code[code]} "${String(rawMessage)}", got a response`);
  const ce = ConnectError.from(error);
  assert.equal(
    Code[ce.code],
    Code[code],
    `expected code ${Code[code]}, got ${Code[ce.code]}: ${ce.rawMessage}`,
  );
  if (typeof rawMessage === "string") assert.equal(ce.rawMessage, rawMessage);
  else assert.match(ce.rawMessage, rawMessage);
  return ce;
}

/** An async iterable fed by push(): the request side of a bidi stream in tests. */
export function pushQueue<T>() {
  const items: T[] = [];
  let head = 0;
  let wake: (() => void) | undefined;
  let closed = false;
  return {
    push(v: T) {
      items.push(v);
      wake?.();
    },
    close() {
      closed = true;
      wake?.();
    },
    async *[Symbol.asyncIterator](): AsyncGenerator<T> {
      for (;;) {
        if (head < items.length) {
          yield items[head++] as T;
          continue;
        }
        if (closed) return;
        await new Promise<void>((r) => {
          wake = r;
        });
        wake = undefined;
      }
    },
  };
}
