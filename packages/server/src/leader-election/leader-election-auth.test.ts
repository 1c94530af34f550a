// Create, Close and List under auth: the election's `__conclave/le/<name>/`
// keys decide, as for every other LeaderElection method — READ and WRITE to
// create or close, READ to be listed.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Auth, LeaderElectionService, Permission_Type } from "@conclave/proto";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { errorInterceptor } from "../error-interceptor.js";
import { createRoutes } from "../routes.js";
import { closeServerContext, openServerContext, type ServerContext } from "../server-context.js";

const enc = new TextEncoder();
let ctx: ServerContext;
let le: ReturnType<typeof createClient<typeof LeaderElectionService>>;
const tokens: Record<"root" | "alice", { headers: { token: string } }> = {
  root: { headers: { token: "" } },
  alice: { headers: { token: "" } },
};

/** A prefix permission of the role `app`. */
const grant = (
  auth: ReturnType<typeof createClient<typeof Auth>>,
  prefix: string,
  permType: Permission_Type,
) => {
  const key = enc.encode(prefix);
  const rangeEnd = key.slice();
  rangeEnd[rangeEnd.length - 1] = (rangeEnd[rangeEnd.length - 1] ?? 0) + 1;
  return auth.roleGrantPermission({ name: "app", perm: { permType, key, rangeEnd } });
};

before(async () => {
  ctx = await openServerContext({ dataDir: ":memory:" });
  const t = createRouterTransport(createRoutes(ctx), {
    router: { interceptors: [errorInterceptor] },
  });
  le = createClient(LeaderElectionService, t);
  // Before auth: elections alice may change, only read, or not see at all.
  await le.create({ election: "team-1" });
  await le.create({ election: "ro-1" });
  await le.enter({ election: "secret", candidateId: "x" });
  const auth = createClient(Auth, t);
  await auth.userAdd({ name: "root", password: "rootpw" });
  await auth.roleAdd({ name: "root" });
  await auth.userGrantRole({ user: "root", role: "root" });
  await auth.userAdd({ name: "alice", password: "alicepw" });
  await auth.roleAdd({ name: "app" });
  await grant(auth, "__conclave/le/team-", Permission_Type.READWRITE);
  await grant(auth, "__conclave/le/ro-", Permission_Type.READ);
  await auth.userGrantRole({ user: "alice", role: "app" });
  await auth.authEnable({});
  for (const [name, password] of [
    ["root", "rootpw"],
    ["alice", "alicepw"],
  ] as const) {
    tokens[name].headers.token = (await auth.authenticate({ name, password })).token;
  }
});
after(async () => {
  await closeServerContext(ctx);
});

type Outcome = "ok" | Code;
const outcome = async (p: Promise<unknown>): Promise<Outcome> => {
  try {
    await p;
    return "ok";
  } catch (e) {
    return ConnectError.from(e).code;
  }
};

describe("LeaderElection Create, Close and List under auth", () => {
  const cases: Array<{
    who: "root" | "alice";
    call: "create" | "close";
    election: string;
    want: Outcome;
  }> = [
    { who: "alice", call: "create", election: "team-2", want: "ok" },
    { who: "alice", call: "create", election: "team-1", want: "ok" },
    { who: "alice", call: "create", election: "ro-2", want: Code.PermissionDenied },
    { who: "alice", call: "create", election: "other", want: Code.PermissionDenied },
    { who: "alice", call: "close", election: "ro-1", want: Code.PermissionDenied },
    { who: "alice", call: "close", election: "secret", want: Code.PermissionDenied },
    // Refused before anything is read: no hint whether it exists.
    { who: "alice", call: "close", election: "other-never", want: Code.PermissionDenied },
    { who: "alice", call: "close", election: "team-2", want: "ok" },
    { who: "root", call: "create", election: "other", want: "ok" },
  ];
  for (const t of cases) {
    it(`${t.who} ${t.call} ${t.election}: ${t.want === "ok" ? "ok" : Code[t.want]}`, async () => {
      assert.equal(await outcome(le[t.call]({ election: t.election }, tokens[t.who])), t.want);
    });
  }

  it("List shows each caller only the elections it may read", async () => {
    const names = async (who: "root" | "alice") =>
      (await le.list({}, tokens[who])).elections.map((t) => t.election);
    assert.deepEqual(await names("root"), ["other", "ro-1", "secret", "team-1"]);
    assert.deepEqual(await names("alice"), ["ro-1", "team-1"]);
  });

  it("List without a user is refused, as every LeaderElection call is", async () => {
    await assert.rejects(le.list({}), (e) => {
      const ce = ConnectError.from(e);
      return ce.code === Code.InvalidArgument && ce.rawMessage === "etcdserver: user name is empty";
    });
    await assert.rejects(
      le.list({}, { headers: { token: "bogus.1" } }),
      (e) => ConnectError.from(e).code === Code.Unauthenticated,
    );
  });
});
