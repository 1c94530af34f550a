import * as assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Election, Lock } from "@conclave/proto";
import {
  callContextOf,
  callContextValues,
  createCallContext,
  errorInterceptor,
} from "@conclave/server";
import { Code, ConnectError, type HandlerContext, type Interceptor } from "@connectrpc/connect";
import type { StreamMethod } from "./call-pipeline.js";
import { createDirectCall, type DirectCall, invokeStream, invokeUnary } from "./direct-call.js";

const initialHeader = Object.freeze({ "content-type": "application/grpc+proto" });
const initialTrailer = Object.freeze({ "grpc-status": "0" });

function newCall(shutdown: AbortSignal, deadline?: number) {
  const requestHeader = new Headers({ token: "t" });
  const call = createCallContext({
    protocol: "grpc",
    service: Lock.typeName,
    method: Lock.method.unlock.name,
    requestHeader,
    peerCommonName: undefined,
    deadline,
    shutdownSignal: shutdown,
    limits: { readMaxBytes: 0xffffffff, recursionLimit: undefined },
  });
  return createDirectCall({
    call,
    service: Lock,
    method: Lock.method.unlock,
    protocolName: "grpc",
    url: "http://127.0.0.1/v3lockpb.Lock/Unlock",
    requestHeader,
    responseHeader: initialHeader,
    responseTrailer: initialTrailer,
    values: callContextValues(call),
  });
}

const listeners = (s: AbortSignal) => getEventListeners(s, "abort").length;

describe("unary call context", () => {
  it("makes no signal, timer or shutdown listener unless one is read", () => {
    const shutdown = new AbortController();
    const call = newCall(shutdown.signal, Date.now() + 60_000);
    assert.equal(listeners(shutdown.signal), 0);
    assert.equal(callContextOf(call)?.aborted, false);
    const s = call.signal;
    assert.equal(s.aborted, false);
    assert.equal(listeners(shutdown.signal), 1);
    call.abort(new Error("done"));
    assert.equal(s.aborted, true);
    // Every call listens through one shared listener (abort-fanout.ts).
    for (let i = 0; i < 5; i++) void newCall(shutdown.signal).signal;
    assert.equal(listeners(shutdown.signal), 1);
  });

  const table: {
    name: string;
    act: (c: ReturnType<typeof newCall>, shutdown: AbortController) => Promise<void> | void;
    deadlineMs?: number;
    code: Code;
  }[] = [
    {
      name: "a deadline that passed before the signal was read",
      deadlineMs: -1,
      act: () => {},
      code: Code.DeadlineExceeded,
    },
    {
      name: "a deadline that passes while the handler holds the signal",
      deadlineMs: 20,
      act: async (c) => {
        void c.signal;
        await sleep(60);
      },
      code: Code.DeadlineExceeded,
    },
    {
      name: "shutdown while the handler holds the signal",
      act: (c, shutdown) => {
        void c.signal;
        shutdown.abort(new ConnectError("server is shutting down", Code.Unavailable));
      },
      code: Code.Unavailable,
    },
    {
      name: "shutdown before the signal was read",
      act: (_c, shutdown) => {
        shutdown.abort(new ConnectError("server is shutting down", Code.Unavailable));
      },
      code: Code.Unavailable,
    },
    {
      name: "a cancel before the signal was read",
      act: (c) => c.abort(new ConnectError("canceled", Code.Canceled)),
      code: Code.Canceled,
    },
  ];
  for (const t of table) {
    it(`aborts the signal on ${t.name}`, async () => {
      const shutdown = new AbortController();
      const call = newCall(
        shutdown.signal,
        t.deadlineMs === undefined ? undefined : Date.now() + t.deadlineMs,
      );
      await t.act(call, shutdown);
      assert.equal(
        callContextOf(call)?.aborted,
        true,
        "aborted, read before or without the signal",
      );
      assert.equal(call.signal.aborted, true);
      const reason = call.signal.reason;
      assert.ok(reason instanceof ConnectError);
      assert.equal(reason.code, t.code);
    });
  }

  it("runs interceptors outermost first; the handler sees what they pass on", async () => {
    const order: string[] = [];
    const tag =
      (name: string): Interceptor =>
      (next) =>
      async (req) => {
        order.push(name);
        if (name === "b") req.header.set("x-b", "1");
        const res = await next(req);
        res.trailer.set(`x-${name}`, "done");
        return res;
      };
    const call = newCall(new AbortController().signal);
    const out = await invokeUnary(
      call,
      (_input, ctx) => {
        order.push("impl");
        assert.equal(ctx.requestHeader.get("x-b"), "1");
        assert.equal(ctx.requestHeader.get("token"), "t");
        return {};
      },
      { key: new Uint8Array() } as never,
      [tag("a"), tag("b")],
    );
    assert.deepEqual(order, ["a", "b", "impl"]);
    assert.equal(out.$typeName, "v3lockpb.UnlockResponse");
    assert.equal(call.responseTrailer.get("x-a"), "done");
    assert.equal(call.responseTrailer.get("x-b"), "done");
  });

  it("gives the handler a context of the request an interceptor replaced", async () => {
    const swap: Interceptor = (next) => async (req) =>
      next({ ...req, header: new Headers({ token: "other" }) });
    const call = newCall(new AbortController().signal);
    let seen: string | null = null;
    await invokeUnary(
      call,
      (_input, ctx) => {
        seen = ctx.requestHeader.get("token");
        return {};
      },
      {} as never,
      [swap],
    );
    assert.equal(seen, "other");
  });

  const writes: {
    name: string;
    layer?: Interceptor;
    impl?: (ctx: HandlerContext) => void;
    header: Record<string, string>;
    trailer: Record<string, string>;
  }[] = [
    {
      name: "the initial headers, when nobody touches them",
      header: initialHeader,
      trailer: initialTrailer,
    },
    {
      name: "a trailer a layer sets on the response",
      layer: (next) => async (req) => {
        const res = await next(req);
        res.trailer.set("x-layer", "1");
        return res;
      },
      header: initialHeader,
      trailer: { "grpc-status": "0", "x-layer": "1" },
    },
    {
      name: "the headers of a response a layer replaced",
      layer: (next) => async (req) => ({
        ...(await next(req)),
        header: new Headers({ "content-type": "application/grpc+proto", "x-new": "1" }),
      }),
      header: { "content-type": "application/grpc+proto", "x-new": "1" },
      trailer: initialTrailer,
    },
    {
      name: "a header the handler sets",
      impl: (ctx) => ctx.responseHeader.set("x-impl", "1"),
      header: { "content-type": "application/grpc+proto", "x-impl": "1" },
      trailer: initialTrailer,
    },
  ];
  for (const t of writes) {
    it(`writes ${t.name}`, async () => {
      const call = newCall(new AbortController().signal);
      await invokeUnary(
        call,
        (_input, ctx) => {
          t.impl?.(ctx);
          return {};
        },
        {} as never,
        t.layer === undefined ? [] : [t.layer],
      );
      assert.deepEqual({ ...call.nodeResponseHeader() }, t.header);
      assert.deepEqual({ ...call.nodeResponseTrailer() }, t.trailer);
    });
  }

  it("writes the shared initial headers as they are, with no Headers made", async () => {
    const call = newCall(new AbortController().signal);
    await invokeUnary(call, () => ({}), {} as never, [(next) => (req) => next(req)]);
    assert.equal(call.nodeResponseHeader(), initialHeader);
    assert.equal(call.nodeResponseTrailer(), initialTrailer);
  });
});

describe("stream call context", () => {
  const observe = Election.method.observe;
  const spec = (impl: (input: unknown, ctx: HandlerContext) => AsyncIterable<unknown>) =>
    ({ kind: "server_streaming", method: observe, impl }) as unknown as StreamMethod["spec"];
  async function* one() {
    yield {};
  }
  async function* input() {
    yield {};
  }
  async function drain(call: DirectCall, s: StreamMethod["spec"], layers: Interceptor[]) {
    const out = await invokeStream(call, s, input(), layers);
    for await (const _ of out.messages) {
      // read to the end
    }
    out.finish();
  }

  it("keeps the headers unmade through layers that observe the stream", async () => {
    const call = newCall(new AbortController().signal);
    // The error layer observes the stream as the metrics layer does (observeResponse).
    const layers = [errorInterceptor, errorInterceptor];
    await drain(
      call,
      spec(() => one()),
      layers,
    );
    assert.equal(call.nodeResponseHeader(), initialHeader);
    assert.equal(call.nodeResponseTrailer(), initialTrailer);
  });

  it("writes what the handler set, through those layers", async () => {
    const call = newCall(new AbortController().signal);
    await drain(
      call,
      spec((_input, ctx) => {
        ctx.responseHeader.set("x-h", "1");
        ctx.responseTrailer.set("x-t", "2");
        return one();
      }),
      [errorInterceptor],
    );
    assert.deepEqual({ ...call.nodeResponseHeader() }, { ...initialHeader, "x-h": "1" });
    assert.deepEqual({ ...call.nodeResponseTrailer() }, { ...initialTrailer, "x-t": "2" });
  });

  it("writes the headers of a layer that returns its own", async () => {
    const call = newCall(new AbortController().signal);
    const replacing: Interceptor = (next) => async (req) => {
      const res = await next(req);
      return {
        ...res,
        header: new Headers({ "x-own": "h" }),
        trailer: new Headers({ "x-own": "t" }),
      };
    };
    await drain(
      call,
      spec(() => one()),
      [errorInterceptor, replacing],
    );
    assert.deepEqual({ ...call.nodeResponseHeader() }, { "x-own": "h" });
    assert.deepEqual({ ...call.nodeResponseTrailer() }, { "x-own": "t" });
  });
});
