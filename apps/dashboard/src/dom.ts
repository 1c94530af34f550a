// A tiny element builder: the views build plain DOM, no framework.

import { formatCountdown } from "./format.js";

export type Child = Node | string | number | bigint | false | null | undefined | readonly Child[];
export type Attrs = Record<string, string | number | bigint | boolean | undefined>;

/**
 * Creates an element with attributes (`undefined`/`false` leave one out,
 * `true` sets it empty) and children (strings become text nodes, arrays are
 * flattened; `false`, `null` and `undefined` are skipped, so `cond && h(...)` works).
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    el.setAttribute(name, value === true ? "" : String(value));
  }
  el.append(...nodes(children));
  return el;
}

function nodes(children: readonly Child[], out: Node[] = []): Node[] {
  for (const c of children) {
    if (c === false || c === null || c === undefined) continue;
    if (Array.isArray(c)) nodes(c, out);
    else out.push(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return out;
}

/** Replaces an element's children. */
export function fill(el: Element, ...children: Child[]): void {
  el.replaceChildren(...nodes(children));
}

/**
 * Runs `fn` once before the next frame however often it is asked to, so a
 * burst of watch events re-renders a view once.
 */
export function batched(fn: () => void): () => void {
  let pending = false;
  return () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      fn();
    });
  };
}

/**
 * Runs `fn` at once, then at most once per `intervalMs` while calls keep
 * coming (the last call always gets its run), so a busy keyspace cannot make
 * a view re-read itself on every frame.
 */
export function throttled(fn: () => void, intervalMs: number): () => void {
  let last = Number.NEGATIVE_INFINITY;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const run = () => {
    timer = undefined;
    last = performance.now();
    fn();
  };
  return () => {
    if (timer !== undefined) return;
    const wait = last + intervalMs - performance.now();
    if (wait <= 0) run();
    else timer = setTimeout(run, wait);
  };
}

/**
 * An element whose text counts down to `deadline` (a `Date.now()` value;
 * undefined shows "–"); {@link startCountdowns} keeps every such element current.
 */
export function countdown(deadline: number | undefined, attrs: Attrs = {}): HTMLElement {
  const el = h("span", { ...attrs, class: "countdown", "data-deadline": deadline ?? "" });
  updateCountdown(el, Date.now());
  return el;
}

function updateCountdown(el: HTMLElement, now: number): void {
  const d = el.dataset.deadline;
  const left = d === undefined || d === "" ? Number.NaN : Number(d) - now;
  const text = formatCountdown(left);
  if (el.textContent !== text) el.textContent = text;
  el.classList.toggle("low", Number.isFinite(left) && left < 5_000);
}

/** Updates every countdown on the page every `everyMs` (default 250). */
export function startCountdowns(everyMs = 250): () => void {
  const t = setInterval(() => {
    const now = Date.now();
    for (const el of document.querySelectorAll<HTMLElement>("[data-deadline]")) {
      updateCountdown(el, now);
    }
  }, everyMs);
  return () => clearInterval(t);
}

/** Attributes that name an element among re-rendered siblings (cards, rows, buttons). */
const identity = [
  "data-testid",
  "data-election",
  "data-candidate",
  "data-lease",
  "data-lock",
  "data-user",
  "data-role",
  "data-alarm",
  "data-key",
];

/**
 * Runs `update` (which replaces `container`'s children) and puts the focus
 * back on the element that matches the focused one by its data attributes,
 * so views re-rendered every second stay usable from the keyboard.
 */
export function keepingFocus(container: Element, update: () => void): void {
  const active = document.activeElement;
  let selector = "";
  if (active instanceof HTMLElement && active !== container && container.contains(active)) {
    const parts: string[] = [];
    for (let el: Element | null = active; el !== null && el !== container; el = el.parentElement) {
      const part = identity
        .map((a) => el?.getAttribute(a))
        .map((v, i) => (v === null || v === undefined ? "" : `[${identity[i]}="${CSS.escape(v)}"]`))
        .join("");
      if (part !== "") parts.unshift(part);
    }
    selector = parts.join(" ");
  }
  update();
  if (selector !== "") container.querySelector<HTMLElement>(selector)?.focus();
}

/**
 * The click handlers of buttons in views that re-render (`actionButton`,
 * through {@link setClickHandler}), by element: an element kept by
 * {@link patchChildren} takes the handler of the element rendered in its
 * place, so it acts on what was rendered last.
 */
const clickHandlers = new WeakMap<Element, () => void>();

/** Makes `fn` the click handler of `el` (its listener calls whatever is set here now). */
export function setClickHandler(el: HTMLElement, fn: () => void): void {
  clickHandlers.set(el, fn);
  el.addEventListener("click", (e) => {
    e.stopPropagation();
    clickHandlers.get(el)?.();
  });
}

/** The same element in two renders: same tag, same identity attributes, both with a click handler or neither. */
function sameElement(a: Element, b: Element): boolean {
  if (a.tagName !== b.tagName || clickHandlers.has(a) !== clickHandlers.has(b)) return false;
  for (const name of identity) if (a.getAttribute(name) !== b.getAttribute(name)) return false;
  return true;
}

/** Makes `old` look like `next` in place when they are the same node; false when `next` must replace it. */
function patchNode(old: Node, next: Node): boolean {
  if (old.nodeType !== next.nodeType) return false;
  if (old instanceof CharacterData) {
    const data = (next as CharacterData).data;
    if (old.data !== data) old.data = data;
    return true;
  }
  if (!(old instanceof Element) || !(next instanceof Element) || !sameElement(old, next)) {
    return false;
  }
  for (const a of [...old.attributes]) if (!next.hasAttribute(a.name)) old.removeAttribute(a.name);
  for (const a of next.attributes) {
    if (old.getAttribute(a.name) !== a.value) old.setAttribute(a.name, a.value);
  }
  const handler = clickHandlers.get(next);
  if (handler !== undefined) clickHandlers.set(old, handler);
  patchChildren(old, [...next.childNodes]);
  return true;
}

/**
 * Makes `el`'s children look like `next`, keeping every node that is the
 * same one (see sameElement) and changing only its attributes and text. A
 * view re-rendered every second (the lease poll) would otherwise replace
 * the button under the pointer between mouse down and up, and the click
 * would be lost; kept nodes also keep their focus, scroll and selection.
 */
export function patchChildren(el: Element, next: readonly Node[]): void {
  const old = [...el.childNodes];
  for (const [i, n] of next.entries()) {
    const o = old[i];
    if (o === undefined) el.append(n);
    else if (!patchNode(o, n)) el.replaceChild(n, o);
  }
  for (const o of old.slice(next.length)) o.remove();
}

/**
 * {@link fill} for views that re-render: unchanged nodes are kept (see
 * {@link patchChildren}), and the focus stays (see {@link keepingFocus}) on
 * a node that did change.
 */
export function fillKeepingFocus(el: Element, ...children: Child[]): void {
  keepingFocus(el, () => patchChildren(el, nodes(children)));
}
