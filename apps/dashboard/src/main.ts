// The Conclave dashboard: live elections, locks, leases, keys and events of
// one Conclave, over @conclave/client with connect-web's Connect transport
// (plain fetch over HTTP/1.1; browsers cannot open bidi streams, so only
// unary and server-streaming RPCs are used). With auth enabled it asks for a
// login first and sends the token on every call.

import "./style.css";
import { createAuthSession, createConclaveClient, createConclaveServices } from "@conclave/client";
import { IdentitySource } from "@conclave/proto";
import { createConnectTransport } from "@connectrpc/connect-web";
import { mountAccessView } from "./access-view.js";
import { createActionRunner } from "./action-runner.js";
import { mountChartsView } from "./charts-view.js";
import { mountClusterView } from "./cluster-view.js";
import { batched, fill, h, startCountdowns } from "./dom.js";
import { mountElectionsView } from "./elections-view.js";
import { endpointOf } from "./endpoint.js";
import { mountEventFeedView } from "./event-feed-view.js";
import { formatStale } from "./format.js";
import { mountKeyBrowserView } from "./key-browser-view.js";
import { mountLeasesView } from "./leases-view.js";
import { createLiveState, type LiveState } from "./live-state.js";
import { mountLocksView } from "./locks-view.js";
import { mountLoginView } from "./login-view.js";
import { startMetricsFeed } from "./metrics-sampler.js";
import { mountStaleNotices, onStaleTick } from "./stale-notice.js";
import { applySavedTheme, themeToggle } from "./theme-toggle.js";
import { keepTokenFresh } from "./token-renewal.js";

/** Who the page acts as, and how to leave; undefined while auth is off. */
interface Login {
  user: string;
  /** What named the user: a password login, or the browser's client certificate. */
  via: "password" | "client certificate";
  logout(): void;
}

function mountHeader(parent: HTMLElement, endpoint: string, login?: Login): HTMLElement {
  const header = h(
    "header",
    { class: "top" },
    h("h1", {}, "Conclave"),
    h("span", { class: "muted mono", "data-testid": "endpoint" }, endpoint),
    h("span", { class: "spacer" }),
    themeToggle(),
  );
  if (login !== undefined) {
    // A certificate cannot be logged out of: its user may log in as another one instead.
    const out = h(
      "button",
      { type: "button", class: "secondary small", "data-testid": "logout" },
      login.via === "password" ? "Log out" : "Log in with a password",
    );
    out.addEventListener("click", () => login.logout());
    header.append(
      h(
        "span",
        { class: "user" },
        h("span", { class: "muted" }, "user "),
        h("span", { class: "mono", "data-testid": "user" }, login.user),
        " ",
        h("span", { class: "muted", "data-testid": "user-via" }, `(${login.via})`),
        out,
      ),
    );
  }
  parent.append(header);
  return header;
}

/** The live/reconnecting status and the error banner; returns the stop function. */
function mountStatus(header: HTMLElement, after: HTMLElement, state: LiveState): () => void {
  const dot = h("span", { class: "dot" });
  const statusText = h("span", { "data-testid": "status-text" });
  const status = h(
    "span",
    { class: "status", "data-testid": "status", role: "status" },
    dot,
    statusText,
  );
  const revision = h("span", { class: "mono", "data-testid": "revision" });
  const error = h("p", { class: "banner error", "data-testid": "error", hidden: true });
  header
    .querySelector(".spacer")
    ?.after(h("span", { class: "muted" }, "revision "), revision, status);
  after.after(error);
  const render = () => {
    status.dataset.state = state.connected ? "connected" : "disconnected";
    const text = state.connected
      ? state.denied
        ? "live (limited by your roles)"
        : "live"
      : formatStale(state.revision, state.lastDataAt, Date.now());
    if (statusText.textContent !== text) fill(statusText, text);
    fill(revision, state.revision);
    error.hidden = state.error === undefined;
    fill(error, state.error ?? "");
  };
  const unsubscribe = state.subscribe("status", batched(render));
  // "T s ago" keeps counting while disconnected, re-drawn as it changes.
  const stopTicks = onStaleTick(state, () => {
    if (!state.connected) render();
  });
  render();
  return () => {
    unsubscribe();
    stopTicks();
  };
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
  applySavedTheme();
  const session = createAuthSession();
  const transport = createConnectTransport({
    baseUrl: endpoint,
    useBinaryFormat: true,
    interceptors: [session.interceptor],
  });
  startCountdowns();

  /** Ends what the current screen runs (live state, token renewal). */
  let teardown: (() => void) | undefined;
  let showing: "login" | "console" | undefined;
  /** The user the browser's verified client certificate names, once WhoAmI said so. */
  let certificateUser: string | undefined;

  function showLogin(): void {
    if (showing === "login") return;
    showing = "login";
    teardown?.();
    teardown = undefined;
    session.logout();
    fill(app as HTMLElement);
    mountHeader(app as HTMLElement, endpoint);
    const certificate =
      certificateUser === undefined
        ? undefined
        : { user: certificateUser, use: () => showCertificateConsole(certificateUser ?? "") };
    mountLoginView(
      app as HTMLElement,
      endpoint,
      async (name, password) => {
        await session.login(transport, name, password);
        const stopRenewal = keepTokenFresh(session, transport, name, password, showLogin);
        showConsole({ user: name, via: "password", logout: loggedOut }, stopRenewal);
      },
      certificate,
    );
  }

  /** Back to the certificate's user when there is one, else to the login form. */
  function loggedOut(): void {
    session.logout();
    if (certificateUser !== undefined) showCertificateConsole(certificateUser);
    else showLogin();
  }

  /**
   * The console as the user the client certificate names (etcd's
   * --client-cert-auth: requests without a token act as the CN): no
   * password, no token; the server checks that user's roles on every call.
   */
  function showCertificateConsole(user: string): void {
    session.logout();
    showConsole({ user, via: "client certificate", logout: showLogin });
  }

  function showConsole(login?: Login, stopRenewal?: () => void): void {
    showing = "console";
    teardown?.();
    fill(app as HTMLElement);
    const client = createConclaveClient(
      transport,
      // A restarted server is picked up within a few seconds.
      { backoff: { initialMs: 200, maxMs: 3_000 } },
    );
    const state = createLiveState(client, endpoint, { onLoginRequired: authRequired });
    const header = mountHeader(app as HTMLElement, endpoint, login);
    const stopStatus = mountStatus(header, header, state);
    const actions = createActionRunner(app as HTMLElement);
    const grid = h("main", { class: "grid" });
    (app as HTMLElement).append(grid);
    mountElectionsView(grid, state, client, actions);
    mountLocksView(grid, state, client);
    mountLeasesView(grid, state, client, actions);
    mountEventFeedView(grid, state);
    mountKeyBrowserView(grid, state, client, actions);
    const metrics = startMetricsFeed(endpoint);
    const stopCluster = mountClusterView(grid, state, client, actions, metrics);
    const stopCharts = mountChartsView(grid, endpoint, metrics);
    const stopAccess = mountAccessView(grid, client, actions);
    const stopNotices = mountStaleNotices(grid, state);
    // Shown to nobody (auth was off) and now refused: auth was turned on
    // meanwhile — ask again who the page is (a client certificate's user,
    // else the login form) instead of showing denials to no one.
    const stopAuthCheck =
      login === undefined
        ? state.subscribe("status", () => {
            if (state.denied) void authRequired();
          })
        : undefined;
    state.start();
    teardown = () => {
      stopAuthCheck?.();
      stopRenewal?.();
      stopNotices();
      stopStatus();
      stopCluster();
      stopCharts();
      metrics.stop();
      stopAccess();
      state.stop();
    };
  }

  const services = createConclaveServices(transport);

  /**
   * Auth is on: whether the connection's client certificate already names a
   * user (conclave.v1 IdentityService.WhoAmI: a page cannot read its own
   * certificate) — then its console, else the login form. Asked again each
   * time, so auth turned on while the page is open finds the certificate
   * too. A server without WhoAmI (etcd, an older Conclave) gets the form.
   */
  function authRequired(): Promise<void> {
    asking ??= services.identity
      .whoAmI({})
      .catch(() => undefined)
      .then((who) => {
        asking = undefined;
        if (who?.source === IdentitySource.CLIENT_CERTIFICATE) {
          certificateUser = who.user;
          showCertificateConsole(who.user);
        } else {
          certificateUser = undefined;
          showLogin();
        }
      });
    return asking;
  }
  /** The WhoAmI under way: panels refused at once ask once. */
  let asking: Promise<void> | undefined;

  // Ask whether auth is on (AuthStatus needs no token). A server that is
  // down gets the console, which reconnects and asks for a login if needed.
  services.auth.authStatus({}).then(
    (s) => (s.enabled ? authRequired() : showConsole()),
    () => showConsole(),
  );
  window.addEventListener("pagehide", () => teardown?.());
}

main();
