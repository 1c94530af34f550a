import { type ConclaveClient, prefixEnd } from "@conclave/client";
import { describeError } from "./access-errors.js";
import { fill, h } from "./dom.js";
import { displayBytes, leaseHex } from "./format.js";
import { readKeyHistory } from "./key-history.js";
import { buildLockHolds } from "./lock-holds.js";
import { formatClock, formatDuration } from "./moments.js";
import { empty } from "./panel.js";

const enc = new TextEncoder();

/**
 * A v3lock's holders over time, from the MVCC history of its `<name>/`
 * keys: who held it from which revision to which, and how long each
 * waited in line — in revisions (MVCC keeps no times), and in seconds where
 * this page saw both revisions live (`seenAt`, the browser's clock; v3lock
 * records no times of its own), labelled so.
 */
export function mountLockTimeline(
  parent: HTMLElement,
  client: ConclaveClient,
  currentRevision: () => bigint,
  seenAt: (revision: bigint) => number | undefined,
): { show(name: string): void } {
  const aside = h("aside", {
    class: "timeline",
    "data-testid": "lock-timeline",
    "aria-label": "lock holders over time",
    hidden: true,
  });
  parent.append(aside);
  let current: AbortController | undefined;
  return {
    show(name) {
      current?.abort();
      const abort = new AbortController();
      current = abort;
      aside.hidden = false;
      const close = h(
        "button",
        { type: "button", class: "secondary small", "aria-label": "close" },
        "×",
      );
      close.addEventListener("click", () => {
        abort.abort();
        aside.hidden = true;
      });
      const head = h(
        "div",
        { class: "card-head" },
        h("h3", {}, "Holders of ", h("span", { class: "mono" }, name)),
        close,
      );
      fill(aside, head, empty("Reading history…"));
      const prefix = enc.encode(`${name}/`);
      readKeyHistory(client, prefix, currentRevision(), abort.signal, prefixEnd(prefix)).then(
        ({ events, compactedAt }) => {
          if (abort.signal.aborted) return;
          const holds = buildLockHolds(events, (k) => displayBytes(k, 200));
          fill(
            aside,
            head,
            holds.length === 0
              ? empty("Nobody held it in the history kept.")
              : h(
                  "ol",
                  { class: "terms" },
                  holds.map((hold) => {
                    const now = Date.now();
                    const queued = seenAt(hold.queuedAt);
                    const from = seenAt(hold.from);
                    const to = hold.to === undefined ? undefined : seenAt(hold.to);
                    const clock = (ms: number | undefined) =>
                      ms === undefined ? "?" : formatClock(ms, now);
                    return h(
                      "li",
                      {
                        "data-testid": "lock-hold",
                        "data-holder": leaseHex(hold.lease),
                        "data-from": hold.from,
                        "data-to": hold.to ?? "",
                        "data-waited": hold.waited,
                        "data-from-at": from,
                        "data-to-at": to,
                        "data-waited-ms":
                          queued === undefined || from === undefined ? undefined : from - queued,
                      },
                      h("strong", { class: "mono" }, leaseHex(hold.lease)),
                      " ",
                      h("span", { class: "muted mono" }, `rev ${hold.from} → ${hold.to ?? "now"}`),
                      " ",
                      h(
                        "span",
                        { class: "muted" },
                        `waited ${hold.waited} revisions`,
                        queued !== undefined &&
                          from !== undefined &&
                          ` (${formatDuration(from - queued)}, seen by this page)`,
                      ),
                      (from !== undefined || to !== undefined) &&
                        h(
                          "div",
                          { class: "term-times muted", "data-testid": "lock-hold-times" },
                          h("span", { class: "mono" }, clock(from)),
                          " → ",
                          h("span", { class: "mono" }, hold.to === undefined ? "now" : clock(to)),
                          " (seen by this page)",
                        ),
                    );
                  }),
                ),
            compactedAt !== undefined &&
              h("p", { class: "muted" }, `history before revision ${compactedAt} was compacted`),
          );
        },
        (err: unknown) => {
          if (!abort.signal.aborted)
            fill(aside, head, h("p", { class: "error" }, describeError(err)));
        },
      );
    },
  };
}
