// Runs in a fresh folder outside the repository, against the packed
// @conclave/client, proto and wire: as a plain Node script
// (node-check.mjs) and, bundled by Vite, in Chromium (main.js). Plain
// JavaScript on purpose: this is what a user of the published package
// writes. Returns what it saw, JSON-safe, for the test to compare.
import { ClientClosedError, createConclaveClient, EventType, toText } from "@conclave/client";
import { createConnectTransport } from "@connectrpc/connect-web";

export async function runScenario(baseUrl, tag) {
  const client = createConclaveClient(createConnectTransport({ baseUrl }));
  const out = {};
  const key = `pkg/${tag}/w`;

  // watch: from the revision after a put, so the next put is its first event.
  const start = (await client.put(key, "0")).revision + 1n;
  const watch = client.watch(key, { startRevision: start });
  const updates = watch[Symbol.asyncIterator]();
  const next = updates.next();
  await client.put(key, "1");
  const update = (await next).value;
  out.watch = update.events.map((e) => [e.kind, e.type === EventType.PUT, toText(e.kv?.value)]);
  watch.close();

  // lock: a handle, then the run-and-release helper.
  const held = await client.lock(`pkg-lock-${tag}`, { ttl: 10 });
  out.lock = [
    toText(held.key).startsWith(`pkg-lock-${tag}/`),
    typeof held[Symbol.asyncDispose] === "function",
  ];
  await held.unlock();
  out.withLock = await client.withLock(`pkg-lock-${tag}`, async () => "ran");

  // etcd's election: campaign, observe, proclaim, resign; whileLeader.
  const election = client.election(`pkg-e-${tag}`);
  const leadership = await election.campaign("a", { ttl: 10 });
  const observe = election.observe();
  const observed = observe[Symbol.asyncIterator]();
  const first = toText((await observed.next()).value.value);
  await leadership.proclaim("b");
  const second = toText((await observed.next()).value.value);
  await leadership.resign();
  observe.close();
  out.observe = [first, second];
  out.whileLeader = await election.whileLeader("c", async () =>
    toText((await election.leader())?.value),
  );
  out.leaderAfter = (await election.leader()) === undefined;

  // conclave.v1 LeaderElection: enter, events, anoint, term, withdraw.
  const le = client.leaderElection(`pkg-le-${tag}`);
  const lease = await client.grantLease(10);
  await le.enter("x", { lease });
  const events = le.events();
  const seen = events[Symbol.asyncIterator]();
  const current = (await seen.next()).value;
  await le.enter("y");
  const entered = (await seen.next()).value;
  const anointed = await le.anoint("y");
  const term = await le.term();
  out.leaderElection = {
    events: [
      [current.kind, current.term.leader],
      [entered.kind, entered.candidateId],
    ],
    anointed: anointed.leader,
    candidates: term?.candidates,
  };
  events.close();
  await le.withdraw("x");
  await le.withdraw("y");
  await lease.revoke();

  client.close();
  try {
    await client.get(key);
    out.afterClose = "resolved";
  } catch (err) {
    out.afterClose = err instanceof ClientClosedError ? "ClientClosedError" : String(err);
  }
  return out;
}
