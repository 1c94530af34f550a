import * as assert from "node:assert/strict";
import { Agent, request } from "node:http";
import * as http2 from "node:http2";
import { after, before } from "node:test";
import type { ConclaveApp } from "./create-app.js";

/**
 * What the equivalence tests of the direct paths share: a table of raw HTTP
 * requests sent to an app with a direct path and to one without it, whose
 * answers must be the same bytes (connect-unary-fast-path.test.ts,
 * grpc-web-unary-fast-path.test.ts, gateway/direct-unary.test.ts,
 * gateway/direct-stream.test.ts).
 */

/** An app of a test and the URL it listens on. */
export interface ListeningApp {
  readonly app: ConclaveApp;
  readonly url: string;
}

/** The two apps an equivalence test compares: with its direct path and without. */
export interface AppPair {
  readonly direct: ListeningApp;
  readonly routed: ListeningApp;
  /** Their URLs, as {@link assertSameAnswers} takes them. */
  readonly urls: { direct: string; routed: string };
}

/**
 * Called in a `describe`: starts `start(true)` (the direct path on) and
 * `start(false)` before the suite's tests, closes both after them, and
 * returns a function that gives the started pair.
 */
export function useAppPair(start: (direct: boolean) => Promise<ListeningApp>): () => AppPair {
  let pair: AppPair | undefined;
  before(async () => {
    const [direct, routed] = await Promise.all([start(true), start(false)]);
    pair = { direct, routed, urls: { direct: direct.url, routed: routed.url } };
  });
  after(async () => {
    if (pair !== undefined) await Promise.all([pair.direct.app.close(0), pair.routed.app.close(0)]);
  });
  return () => {
    assert.ok(pair !== undefined, "the apps start before the suite's tests");
    return pair;
  };
}

/** One request of a table. */
export interface RawRequest {
  /** Names the request in a failure. */
  name: string;
  path: string;
  /** Default POST. */
  method?: string;
  headers?: Record<string, string>;
  body: string | Uint8Array;
}

/** An answer as a client sees it, but its `date` header. */
export interface RawAnswer {
  status: number | undefined;
  /** Header names (lower case) and values, in the order they came. */
  headers: [string, string | string[] | undefined][];
  /** The body's bytes as latin1: byte for byte, and readable where it is text. */
  body: string;
}

/** Sends `r` over HTTP/1.1 through `agent` (keep-alive: reuses the agent's connection). */
export function sendHttp1(url: string, agent: Agent, r: RawRequest): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url + r.path,
      { method: r.method ?? "POST", agent, headers: { ...r.headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (d: Buffer) => chunks.push(d));
        res.on("end", () => {
          resolve({
            status: res.statusCode,
            headers: Object.entries(res.headers).filter(([name]) => name !== "date"),
            body: Buffer.concat(chunks).toString("latin1"),
          });
        });
      },
    );
    req.on("error", reject);
    req.end(r.body);
  });
}

/** Sends `r` as a stream of the HTTP/2 session `session`. */
export function sendHttp2(session: http2.ClientHttp2Session, r: RawRequest): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const stream = session.request(
      { ":method": r.method ?? "POST", ":path": r.path, ...r.headers },
      // A GET's stream would otherwise end with its headers.
      { endStream: false },
    );
    const chunks: Buffer[] = [];
    let status: number | undefined;
    let headers: RawAnswer["headers"] = [];
    stream.on("response", (h) => {
      status = h[":status"];
      headers = Object.entries(h).filter(([name]) => name !== "date" && name !== ":status");
    });
    stream.on("data", (d: Buffer) => chunks.push(d));
    stream.on("end", () =>
      resolve({ status, headers, body: Buffer.concat(chunks).toString("latin1") }),
    );
    stream.on("error", reject);
    stream.end(r.body);
  });
}

/**
 * Sends each request of `requests`, one after the other, to both servers
 * and asserts equal answers: status, headers (names and order) and body.
 * Over HTTP/1.1 each server gets one keep-alive agent, so the table also
 * checks that both keep (or close) the connection after the same answers;
 * over HTTP/2 one session each.
 */
export async function assertSameAnswers(
  urls: { direct: string; routed: string },
  requests: readonly RawRequest[],
  options: { http2?: boolean } = {},
): Promise<void> {
  if (options.http2 === true) {
    const sessions = [http2.connect(urls.direct), http2.connect(urls.routed)];
    try {
      for (const r of requests) {
        const [a, b] = await Promise.all(sessions.map((s) => sendHttp2(s, r)));
        assert.deepEqual(a, b, r.name);
      }
    } finally {
      for (const s of sessions) s.close();
    }
    return;
  }
  const agents = [new Agent({ keepAlive: true }), new Agent({ keepAlive: true })];
  try {
    for (const r of requests) {
      const [a, b] = await Promise.all([
        sendHttp1(urls.direct, agents[0] as Agent, r),
        sendHttp1(urls.routed, agents[1] as Agent, r),
      ]);
      assert.deepEqual(a, b, r.name);
    }
  } finally {
    for (const agent of agents) agent.destroy();
  }
}
