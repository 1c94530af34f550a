import { fill, h } from "./dom.js";
import { formatStale, msUntilStaleChange } from "./format.js";
import type { LiveState } from "./live-state.js";

/**
 * Calls `render` each time the "T s ago" of {@link formatStale} changes
 * while the connection is down — timed from `state.lastDataAt`, not by a
 * free-running interval, which would let the shown age lag the real one by
 * up to a second ("1 s ago" 2.4 s after the last data) — and once a second
 * otherwise. Returns the stop function.
 */
export function onStaleTick(state: LiveState, render: () => void): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const schedule = () => {
    const wait = state.connected ? 1_000 : msUntilStaleChange(state.lastDataAt, Date.now());
    timer = setTimeout(() => {
      render();
      schedule();
    }, wait);
  };
  // A new state (disconnected, new data) changes when the next change is due.
  const unsubscribe = state.subscribe("status", () => {
    clearTimeout(timer);
    schedule();
  });
  schedule();
  return () => {
    unsubscribe();
    clearTimeout(timer);
  };
}

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
  const stopTicks = onStaleTick(state, render);
  render();
  return () => {
    unsubscribe();
    stopTicks();
  };
}
