import { describeError } from "./access-errors.js";
import { fill, h } from "./dom.js";

/** Most outcomes the action log keeps (newest first). */
const logLimit = 20;

/**
 * Runs the page's changes: each one is confirmed first in a modal dialog
 * that says exactly what will be sent, then sent, and its outcome (the
 * revision it landed at, or the server's refusal) goes to the action log —
 * the live panels and the event feed show its effect as it lands.
 */
export interface ActionRunner {
  /**
   * Asks "title — detail?"; on Confirm runs `send`, whose string is the
   * outcome logged. Resolves true when it was confirmed and succeeded.
   */
  run(title: string, detail: string, send: () => Promise<string>): Promise<boolean>;
  /** Logs a refusal found before anything was sent (e.g. invalid JSON). */
  reject(title: string, reason: string): void;
}

export function createActionRunner(parent: HTMLElement): ActionRunner {
  const heading = h("h2", { id: "confirm-title" });
  const detailEl = h("p", { class: "mono detail", "data-testid": "confirm-detail" });
  const ok = h("button", { type: "submit", value: "ok", "data-testid": "confirm-ok" }, "Confirm");
  const cancel = h(
    "button",
    { type: "submit", value: "cancel", class: "secondary", "data-testid": "confirm-cancel" },
    "Cancel",
  );
  const dialog = h(
    "dialog",
    { class: "confirm", "aria-labelledby": "confirm-title", "data-testid": "confirm" },
    h("form", { method: "dialog" }, heading, detailEl, h("div", { class: "buttons" }, cancel, ok)),
  );
  const log = h("ol", { class: "action-log", "aria-live": "polite", "data-testid": "action-log" });
  parent.append(dialog, log);

  const confirm = (title: string, detail: string) =>
    new Promise<boolean>((resolve) => {
      fill(heading, `${title}?`);
      fill(detailEl, detail);
      dialog.returnValue = "";
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
      dialog.showModal();
      ok.focus();
    });

  /** Numbers the outcomes, so a newer one can be told from an older one with the same text. */
  let seq = 0;
  const note = (outcome: "ok" | "error", title: string, text: string) => {
    log.prepend(
      h(
        "li",
        {
          class: outcome,
          "data-testid": "action-entry",
          "data-outcome": outcome,
          "data-seq": ++seq,
        },
        h("strong", {}, title),
        ": ",
        text,
      ),
    );
    while (log.childElementCount > logLimit) log.lastElementChild?.remove();
  };

  return {
    async run(title, detail, send) {
      if (!(await confirm(title, detail))) return false;
      try {
        note("ok", title, await send());
        return true;
      } catch (err) {
        note("error", title, describeError(err));
        return false;
      }
    },
    reject(title, reason) {
      note("error", title, reason);
    },
  };
}
