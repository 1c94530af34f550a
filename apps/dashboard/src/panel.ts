import { type Child, h, setClickHandler } from "./dom.js";

/**
 * A titled dashboard panel. `body` is the element views re-render; `note`
 * explains what the panel shows (and its heuristics) in one line.
 */
export function panel(
  id: string,
  title: string,
  note: string,
  ...extra: Child[]
): { root: HTMLElement; body: HTMLElement; count: HTMLElement } {
  const count = h("span", { class: "count", "data-testid": `${id}-count` });
  const body = h("div", { class: "panel-body", "data-testid": `${id}-list` });
  const root = h(
    "section",
    { class: `panel panel-${id}`, "data-testid": `${id}-panel`, "aria-labelledby": `${id}-title` },
    h("header", {}, h("h2", { id: `${id}-title` }, title, count), h("p", { class: "note" }, note)),
    ...extra,
    body,
  );
  return { root, body, count };
}

/** The placeholder of an empty list. */
export function empty(text: string): HTMLElement {
  return h("p", { class: "empty" }, text);
}

/**
 * What a panel shows instead of its data when the user's roles refuse the
 * reads behind it (elections, locks and the feed come from one read and one
 * watch of the whole keyspace): said plainly, and the page goes on working.
 */
export function denied(what = "your roles do not allow reading the whole keyspace"): HTMLElement {
  return h(
    "p",
    { class: "denied", role: "status", "data-testid": "denied" },
    `permission denied: ${what}`,
  );
}

/**
 * A small button for an action on one item; `label` is what screen readers
 * hear ("Revoke lease 694d…"), `text` what is shown ("revoke").
 */
export function actionButton(
  label: string,
  text: string,
  testid: string,
  onClick: () => void,
): HTMLButtonElement {
  const b = h(
    "button",
    {
      type: "button",
      class: "secondary small",
      "aria-label": label,
      title: label,
      "data-testid": testid,
    },
    text,
  );
  // Through the handler table: a re-render that keeps this button gives it
  // the handler rendered last (dom.ts, patchChildren).
  setClickHandler(b, onClick);
  return b;
}
