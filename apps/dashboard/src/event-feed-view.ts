import { batched, fill, h } from "./dom.js";
import { displayBytes, leaseHex } from "./format.js";
import type { LiveState } from "./live-state.js";
import { denied, empty, panel } from "./panel.js";

const time = new Intl.DateTimeFormat(undefined, {
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  hour12: false,
});

/** Every change to any key since the page opened, newest first (capped). */
export function mountEventFeedView(parent: HTMLElement, state: LiveState): void {
  const { root, body, count } = panel(
    "events",
    "Event feed",
    "One watch of the whole keyspace (conclave.v1 WatchService), newest first; the last 200 changes.",
  );
  parent.append(root);

  const render = batched(() => {
    if (state.denied) {
      fill(count, "");
      fill(body, denied());
      return;
    }
    fill(count, state.feed.length);
    if (state.feed.length === 0) {
      fill(body, empty("Waiting for changes…"));
      return;
    }
    fill(
      body,
      h(
        "ol",
        { class: "feed" },
        ...state.feed.map((e) => {
          const key = displayBytes(e.kv.key, 200);
          return h(
            "li",
            {
              "data-testid": "event",
              "data-type": e.type,
              "data-key": key,
              "data-revision": e.kv.modRevision,
            },
            h("span", { class: "mono rev", "data-testid": "event-revision" }, e.kv.modRevision),
            h("span", { class: `op ${e.type.toLowerCase()}`, "data-testid": "event-type" }, e.type),
            h("span", { class: "mono key", "data-testid": "event-key", title: key }, key),
            e.type === "PUT" &&
              h(
                "span",
                { class: "mono value", "data-testid": "event-value" },
                displayBytes(e.kv.value, 80),
              ),
            e.kv.lease !== 0n &&
              h("span", { class: "muted mono" }, `lease ${leaseHex(e.kv.lease)}`),
            h("time", { class: "muted" }, time.format(e.at)),
          );
        }),
      ),
    );
  });
  state.subscribe("events", render);
  render();
}
