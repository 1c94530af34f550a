import { fill, h } from "./dom.js";
import { formatStale } from "./format.js";
import type { LiveState } from "./live-state.js";

/** How often the "T s ago" of a stale notice is brought up to date, ms. */
const tickMs = 1_000;

/**
 * Gives every panel under `root` an honest notice: while the connection is
 * down, each keeps its last data, dimmed, under "reconnecting… (last data
 * from rev N, T s ago)", so nothing old passes for live and nothing blanks.
 * Returns the stop function.
 */
export function mountStaleNotices(root: HTMLElement, state: LiveState): () => void {
  const notices = [...root.querySelectorAll<HTMLElement>(".panel")].map((panel) => {
    const notice = h("p", {
      class: "stale-notice",
      role: "status",
      "data-testid": "stale",
      hidden: true,
    });
    panel.querySelector("header")?.after(notice);
    return { panel, notice };
  });
  const render = () => {
    const stale = !state.connected;
    const text = stale ? formatStale(state.revision, state.lastDataAt, Date.now()) : "";
    for (const { panel, notice } of notices) {
      panel.classList.toggle("stale", stale);
      notice.hidden = !stale;
      if (notice.textContent !== text) fill(notice, text);
    }
  };
  const unsubscribe = state.subscribe("status", render);
  const timer = setInterval(render, tickMs);
  render();
  return () => {
    unsubscribe();
    clearInterval(timer);
  };
}
