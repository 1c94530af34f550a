// The Conclave dashboard: live elections, locks, leases, keys and events of
// one Conclave, over @conclave/client with connect-web's Connect transport
// (plain fetch over HTTP/1.1; browsers cannot open bidi streams, so only
// unary and server-streaming RPCs are used).

import "./style.css";
import { createConclaveClient } from "@conclave/client";
import { createConnectTransport } from "@connectrpc/connect-web";
import { batched, fill, h, startCountdowns } from "./dom.js";
import { mountElectionsView } from "./elections-view.js";
import { endpointOf } from "./endpoint.js";
import { mountEventFeedView } from "./event-feed-view.js";
import { mountKeyBrowserView } from "./key-browser-view.js";
import { mountLeasesView } from "./leases-view.js";
import { createLiveState, type LiveState } from "./live-state.js";
import { mountLocksView } from "./locks-view.js";

function mountHeader(parent: HTMLElement, state: LiveState): void {
  const dot = h("span", { class: "dot" });
  const statusText = h("span", { "data-testid": "status-text" });
  const status = h("span", { class: "status", "data-testid": "status" }, dot, statusText);
  const revision = h("span", { class: "mono", "data-testid": "revision" });
  const error = h("p", { class: "banner error", "data-testid": "error", hidden: true });
  parent.append(
    h(
      "header",
      { class: "top" },
      h("h1", {}, "Conclave"),
      h("span", { class: "muted mono", "data-testid": "endpoint" }, state.endpoint),
      h("span", { class: "spacer" }),
      h("span", { class: "muted" }, "revision "),
      revision,
      status,
    ),
    error,
  );
  const render = batched(() => {
    status.dataset.state = state.connected ? "connected" : "disconnected";
    fill(statusText, state.connected ? "live" : "connecting…");
    fill(revision, state.revision);
    error.hidden = state.error === undefined;
    fill(error, state.error ?? "");
  });
  state.subscribe("status", render);
  render();
}

function main(): void {
  const app = document.getElementById("app");
  if (app === null) throw new Error("no #app element");
  let endpoint: string;
  try {
    // Under `vite` (development) the page's origin is Vite's: default to a local Conclave.
    endpoint = endpointOf(
      window.location,
      import.meta.env.DEV ? "http://127.0.0.1:2379" : window.location.origin,
    );
  } catch {
    fill(app, h("p", { class: "banner error" }, "?endpoint= is not a valid URL"));
    return;
  }
  const client = createConclaveClient(
    createConnectTransport({ baseUrl: endpoint, useBinaryFormat: true }),
    // A restarted server is picked up within a few seconds.
    { backoff: { initialMs: 200, maxMs: 3_000 } },
  );
  const state = createLiveState(client, endpoint);
  mountHeader(app, state);
  const grid = h("main", { class: "grid" });
  app.append(grid);
  mountElectionsView(grid, state);
  mountLocksView(grid, state);
  mountLeasesView(grid, state);
  mountEventFeedView(grid, state);
  mountKeyBrowserView(grid, state, client);
  startCountdowns();
  state.start();
  window.addEventListener("pagehide", () => state.stop());
}

main();
