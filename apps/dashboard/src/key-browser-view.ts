import type { ConclaveClient } from "@conclave/client";
import type { KeyValue } from "@conclave/proto";
import { internalPrefix } from "@conclave/wire";
import { describeError } from "./access-errors.js";
import type { ActionRunner } from "./action-runner.js";
import { formatDeepLink, parseDeepLink } from "./deep-link.js";
import { fill, h, throttled } from "./dom.js";
import { displayBytes, leaseHex, utf8OrUndefined } from "./format.js";
import { mountKeyEditor } from "./key-editor.js";
import { isDelete, readKeyHistory } from "./key-history.js";
import { type KeyPage, keyPageSize, readKeyPage, readTreeLevel } from "./key-page.js";
import { lineDiff } from "./line-diff.js";
import type { LiveState } from "./live-state.js";
import { empty, panel } from "./panel.js";
import { isJsonText } from "./value-input.js";

const enc = new TextEncoder();

/** How a value is shown: as text, as indented JSON, or as hex bytes. */
type ValueView = "text" | "json" | "hex";

/** A value for reading: `view` as asked, falling back to hex for bytes that are not text. */
export function renderValue(bytes: Uint8Array, view: ValueView): string {
  const text = utf8OrUndefined(bytes);
  if (view === "hex" || text === undefined) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0"))
      .join(" ")
      .replace(/((?:[0-9a-f]{2} ){15}[0-9a-f]{2}) /g, "$1\n");
  }
  if (view === "json") {
    try {
      return JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      return text;
    }
  }
  return text;
}

/** The "directory" of a key: everything up to its last "/" (inclusive), or "". */
const dirOf = (key: string) => key.slice(0, key.lastIndexOf("/") + 1);

/**
 * The key browser: a `/` tree with breadcrumbs, pages of keys under a prefix
 * (optionally containing a substring) at the latest revision (re-read live
 * as keys under it change) or any past one, each key's value as text, JSON
 * or hex and its history with the diff of each version, and deep links
 * (`#key=…`, `#rev=…`) to what is shown.
 */
export function mountKeyBrowserView(
  parent: HTMLElement,
  state: LiveState,
  client: ConclaveClient,
  actions: ActionRunner,
): void {
  const prefixInput = h("input", {
    type: "text",
    name: "prefix",
    placeholder: "key prefix (empty: all keys)",
    autocomplete: "off",
    spellcheck: "false",
    "data-testid": "kb-prefix",
  });
  const containsInput = h("input", {
    type: "search",
    name: "contains",
    placeholder: "substring",
    autocomplete: "off",
    spellcheck: "false",
    "data-testid": "kb-contains",
  });
  const revisionInput = h("input", {
    type: "number",
    name: "revision",
    min: 1,
    placeholder: "latest (live)",
    "data-testid": "kb-revision",
  });
  const hideInternal = h("input", {
    type: "checkbox",
    name: "hide-internal",
    checked: true,
    "data-testid": "kb-hide-internal",
  });
  const latestButton = h(
    "button",
    { type: "button", class: "secondary", "data-testid": "kb-latest" },
    "Latest",
  );
  const form = h(
    "form",
    { class: "kb-form", "data-testid": "kb-form", "aria-label": "find keys" },
    h("label", { class: "grow" }, "Prefix", prefixInput),
    h("label", {}, "Contains", containsInput),
    h("label", {}, "Revision", revisionInput),
    h("label", { class: "check" }, hideInternal, `hide ${internalPrefix}`),
    h("button", { type: "submit", "data-testid": "kb-read" }, "Read"),
    latestButton,
  );
  const editor = mountKeyEditor(client, actions, () => prefixInput.value);
  const crumbs = h("nav", {
    class: "kb-crumbs",
    "aria-label": "key path",
    "data-testid": "kb-crumbs",
  });
  const tree = h("ul", {
    class: "kb-tree",
    "data-testid": "kb-tree",
    "aria-label": "subdirectories",
  });
  const status = h("p", { class: "kb-status", "data-testid": "kb-status" });
  const prev = h(
    "button",
    { type: "button", class: "secondary small", "data-testid": "kb-prev" },
    "‹ previous",
  );
  const next = h(
    "button",
    { type: "button", class: "secondary small", "data-testid": "kb-next" },
    "next ›",
  );
  const pageInfo = h("span", { class: "muted", "data-testid": "kb-page-info" });
  const pager = h("div", { class: "kb-pager", "aria-label": "pages" }, prev, pageInfo, next);
  const history = h("aside", { class: "kb-history", "data-testid": "kb-history", hidden: true });
  const { root, body, count } = panel(
    "keys",
    "Key browser",
    "Range at the latest revision (live) or any past one, a page at a time; choose a key for its value and history.",
    form,
    editor.root,
    crumbs,
    tree,
    status,
  );
  root.append(pager, history);
  parent.append(root);

  let readSeq = 0;
  let selected: Uint8Array | undefined;
  let historyAbort: AbortController | undefined;
  /** Where each page shown so far started (the first is the prefix itself). */
  let pageStarts: Array<Uint8Array | undefined> = [undefined];
  let page: KeyPage | undefined;

  const wanted = (): { prefix: string; contains: string; revision: bigint } => {
    const raw = revisionInput.value.trim();
    return {
      prefix: prefixInput.value,
      contains: containsInput.value,
      revision: raw === "" ? 0n : BigInt(raw),
    };
  };

  /**
   * Reads the page starting at `pageStarts[index]` (0: a new query), and
   * the tree level under the prefix unless `withTree` is false (live
   * re-reads: a level can cost a read per directory).
   */
  async function read(index = 0, withTree = true): Promise<void> {
    const seq = ++readSeq;
    if (index === 0) pageStarts = [undefined];
    let query: { prefix: string; contains: string; revision: bigint };
    try {
      query = wanted();
    } catch {
      fill(status, h("span", { class: "error" }, "revision must be a whole number"));
      return;
    }
    renderCrumbs(query.prefix);
    try {
      const from = pageStarts[index];
      const [result, level] = await Promise.all([
        readKeyPage(client, {
          ...query,
          ...(from !== undefined && { from }),
          ...(index > 0 && page?.total !== undefined && { knownTotal: page.total }),
        }),
        query.contains === "" && withTree
          ? readTreeLevel(client, query.prefix, query.revision)
          : undefined,
      ]);
      if (seq !== readSeq) return; // a newer read was started
      page = result;
      pageStarts = pageStarts.slice(0, index + 1);
      if (result.next !== undefined) pageStarts.push(result.next);
      if (level !== undefined || query.contains !== "") {
        renderTree(level?.dirs ?? [], level?.truncated ?? false);
      }
      const kvs = hideInternal.checked
        ? result.kvs.filter((kv) => !displayBytes(kv.key, 200).startsWith(internalPrefix))
        : result.kvs;
      render(kvs, query.revision !== 0n, index);
    } catch (err) {
      if (seq !== readSeq) return;
      page = undefined;
      fill(count, "");
      fill(body);
      fill(tree);
      fill(
        status,
        h(
          "span",
          { class: "error", "data-testid": "kb-error" },
          `Range failed: ${describeError(err)}`,
        ),
      );
    }
  }
  let pageIndex = 0;

  function renderCrumbs(prefix: string): void {
    const parts = prefix.split("/");
    const items: HTMLElement[] = [crumb("(all keys)", "")];
    let path = "";
    for (const part of parts.slice(0, -1)) {
      path += `${part}/`;
      items.push(crumb(`${part}/`, path));
    }
    fill(crumbs, items);
  }
  function crumb(text: string, path: string): HTMLElement {
    const b = h(
      "button",
      { type: "button", class: "link", "data-testid": "kb-crumb", "data-path": path },
      text,
    );
    b.addEventListener("click", () => browse(path));
    return b;
  }
  function renderTree(dirs: string[], truncated: boolean): void {
    const base = prefixInput.value;
    fill(
      tree,
      dirs.map((d) => {
        const b = h(
          "button",
          { type: "button", class: "link mono", "data-testid": "kb-dir", "data-dir": d },
          `${d.slice(dirOf(base).length)}`,
        );
        b.addEventListener("click", () => browse(d));
        return h("li", {}, b);
      }),
      truncated && h("li", { class: "muted" }, "… more"),
    );
  }
  function browse(prefix: string): void {
    prefixInput.value = prefix;
    containsInput.value = "";
    void read();
  }

  /** What the status line says about the rows shown; re-said when the connection changes. */
  let shownStatus: { revision: bigint; past: boolean } | undefined;
  function renderStatus(): void {
    if (shownStatus === undefined) return;
    const { revision, past } = shownStatus;
    fill(
      status,
      past
        ? h("span", { class: "badge past" }, `at revision ${revision}`)
        : state.connected
          ? h("span", { class: "badge live" }, `live · revision ${revision}`)
          : h("span", { class: "badge stale" }, `not live · revision ${revision}`),
      page !== undefined &&
        page.total === undefined &&
        h("span", { class: "muted" }, ` · looked at ${page.scanned} keys`),
    );
  }

  function render(kvs: KeyValue[], past: boolean, index: number): void {
    pageIndex = index;
    const p = page as KeyPage;
    fill(count, p.total === undefined ? kvs.length : p.total);
    shownStatus = { revision: p.revision, past };
    renderStatus();
    const first = index * keyPageSize + 1;
    fill(
      pageInfo,
      p.kvs.length === 0
        ? ""
        : `keys ${first}–${first + p.kvs.length - 1}${p.total === undefined ? "" : ` of ${p.total}`}`,
    );
    prev.disabled = index === 0;
    next.disabled = p.next === undefined;
    if (kvs.length === 0) {
      fill(body, empty(past ? "No keys at that revision." : "No keys."));
      return;
    }
    const rows = kvs.map((kv) => {
      const key = displayBytes(kv.key, 200);
      const row = h(
        "tr",
        {
          "data-testid": "kv",
          "data-key": key,
          class: selected !== undefined && equal(selected, kv.key) ? "selected" : undefined,
          tabindex: 0,
          "aria-label": `key ${key}`,
        },
        h("td", { class: "mono key", "data-testid": "kv-key", title: key }, key),
        h("td", { class: "mono value", "data-testid": "kv-value" }, displayBytes(kv.value, 100)),
        h("td", { class: "num mono", "data-testid": "kv-create" }, kv.createRevision),
        h("td", { class: "num mono", "data-testid": "kv-mod" }, kv.modRevision),
        h("td", { class: "num mono", "data-testid": "kv-version" }, kv.version),
        h(
          "td",
          { class: "mono", "data-testid": "kv-lease" },
          kv.lease === 0n ? "" : leaseHex(kv.lease),
        ),
      );
      const choose = () => {
        select(kv, past ? p.revision : undefined);
        for (const r of body.querySelectorAll("tr.selected")) r.classList.remove("selected");
        row.classList.add("selected");
      };
      row.addEventListener("click", choose);
      row.addEventListener("keydown", (e) => {
        if (e.key === "Enter") choose();
      });
      return row;
    });
    fill(
      body,
      h(
        "table",
        { class: "kv-table" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", {}, "key"),
            h("th", {}, "value"),
            h("th", { class: "num", title: "create revision" }, "created"),
            h("th", { class: "num", title: "mod revision" }, "modified"),
            h("th", { class: "num" }, "version"),
            h("th", {}, "lease"),
          ),
        ),
        h("tbody", {}, ...rows),
      ),
    );
  }

  /** Shows a key: into the editor (when live), its value and history; the URL links to it. */
  function select(kv: KeyValue, pastRevision: bigint | undefined): void {
    selected = kv.key;
    if (pastRevision === undefined) editor.edit(kv);
    const key = utf8OrUndefined(kv.key);
    if (key !== undefined) {
      const link = formatDeepLink({
        key,
        ...(pastRevision !== undefined && { revision: pastRevision }),
      });
      if (location.hash !== link) replaceHash(link);
    }
    void showHistory(kv, pastRevision ?? page?.revision ?? state.revision);
  }

  async function showHistory(kv: KeyValue, upTo: bigint): Promise<void> {
    const key = kv.key;
    historyAbort?.abort();
    const abort = new AbortController();
    historyAbort = abort;
    history.hidden = false;
    const title = h("h3", {}, "History of ", h("span", { class: "mono" }, displayBytes(key, 120)));
    const close = h(
      "button",
      { type: "button", class: "secondary small", "aria-label": "close history" },
      "×",
    );
    close.addEventListener("click", () => {
      abort.abort();
      history.hidden = true;
      selected = undefined;
      for (const r of body.querySelectorAll("tr.selected")) r.classList.remove("selected");
    });
    const viewSelect = h(
      "select",
      { name: "value-view", "data-testid": "kb-value-view", "aria-label": "show the value as" },
      h("option", { value: "text" }, "text"),
      h("option", { value: "json" }, "JSON"),
      h("option", { value: "hex" }, "hex"),
    );
    const text = utf8OrUndefined(kv.value);
    viewSelect.value = text === undefined ? "hex" : isJsonText(text) ? "json" : "text";
    const valueEl = h("pre", { class: "kb-value mono", "data-testid": "kb-value" });
    const showValue = () => fill(valueEl, renderValue(kv.value, viewSelect.value as ValueView));
    viewSelect.addEventListener("change", showValue);
    showValue();
    const diffEl = h("pre", { class: "kb-diff mono", "data-testid": "kb-diff", hidden: true });
    const head = () => [
      h("div", { class: "card-head" }, title, close),
      h(
        "div",
        { class: "kb-value-head" },
        h("span", { class: "muted" }, `value at revision ${kv.modRevision}`),
        viewSelect,
      ),
      valueEl,
    ];
    fill(history, head(), empty("Reading history…"));
    try {
      const { events, compactedAt } = await readKeyHistory(client, key, upTo, abort.signal);
      if (abort.signal.aborted) return;
      const items = events.map((e, i) => {
        const rev = e.kv?.modRevision ?? 0n;
        const go = h(
          "button",
          { type: "button", class: "secondary small", title: "browse keys at this revision" },
          "view",
        );
        go.addEventListener("click", () => {
          revisionInput.value = String(rev);
          void read();
        });
        const before = events[i - 1];
        const diff = h(
          "button",
          {
            type: "button",
            class: "secondary small",
            "data-testid": "history-diff",
            "aria-label": `diff of revision ${rev} against the version before`,
          },
          "diff",
        );
        diff.addEventListener("click", () => {
          const view = viewSelect.value === "json" ? "json" : "text";
          const old =
            before === undefined || isDelete(before)
              ? ""
              : renderValue(before.kv?.value ?? new Uint8Array(), view);
          const now = isDelete(e) ? "" : renderValue(e.kv?.value ?? new Uint8Array(), view);
          diffEl.hidden = false;
          fill(
            diffEl,
            h("span", { class: "muted" }, `revision ${before?.kv?.modRevision ?? "–"} → ${rev}\n`),
            lineDiff(old, now).map((l) =>
              h(
                "span",
                { class: `diff-${l.op}`, "data-testid": `diff-${l.op}` },
                `${l.op === "same" ? "  " : l.op === "del" ? "- " : "+ "}${l.text}\n`,
              ),
            ),
          );
        });
        return h(
          "li",
          { "data-testid": "history-entry", "data-revision": rev },
          h("span", { class: "mono rev" }, rev),
          h(
            "span",
            { class: `op ${isDelete(e) ? "delete" : "put"}` },
            isDelete(e) ? "DELETE" : "PUT",
          ),
          !isDelete(e) &&
            h("span", { class: "mono value" }, displayBytes(e.kv?.value ?? new Uint8Array(), 80)),
          !isDelete(e) && h("span", { class: "muted" }, `version ${e.kv?.version ?? 0n}`),
          diff,
          go,
        );
      });
      fill(
        history,
        head(),
        h("p", { class: "muted" }, `up to revision ${upTo}, newest first`),
        items.length > 0
          ? h("ol", { class: "feed" }, ...items.reverse())
          : empty("No changes in history."),
        diffEl,
        compactedAt !== undefined &&
          h("p", { class: "muted" }, `history before revision ${compactedAt} was compacted`),
      );
    } catch (err) {
      if (abort.signal.aborted) return;
      fill(history, head(), h("p", { class: "error" }, describeError(err)));
    }
  }

  /** Opens what the URL hash links to: a key (its directory, and the key chosen), a revision. */
  async function follow(): Promise<void> {
    const followed = location.hash;
    const link = parseDeepLink(followed);
    if (link.key === undefined && link.revision === undefined) return;
    revisionInput.value = link.revision === undefined ? "" : String(link.revision);
    if (link.key !== undefined) {
      prefixInput.value = dirOf(link.key);
      containsInput.value = "";
    }
    await read();
    // A newer link (another hashchange) came while this one read: it wins, and
    // this one must not write its key back over it.
    if (link.key === undefined || location.hash !== followed) return;
    const kv = await client.get(link.key, { revision: link.revision ?? 0n }).catch(() => undefined);
    if (location.hash !== followed) return;
    if (kv === undefined) {
      fill(
        history,
        h("p", { class: "error", "data-testid": "kb-link-missing" }, `no key ${link.key}`),
      );
      history.hidden = false;
      return;
    }
    select(kv, link.revision);
    body
      .querySelector<HTMLElement>(`tr[data-key="${CSS.escape(link.key)}"]`)
      ?.classList.add("selected");
    root.scrollIntoView({ block: "start" });
  }

  // Live: re-read the page shown when a change touches the prefix (at most every 100 ms).
  const reread = throttled(() => void read(pageIndex, false), 100);
  state.onEvents((events) => {
    if (revisionInput.value.trim() !== "") return;
    const prefix = enc.encode(prefixInput.value);
    if (events.some((e) => e.kv !== undefined && startsWith(e.kv.key, prefix))) reread();
  });
  // After a reconnect the live view may have missed changes: read again.
  let wasConnected = state.connected;
  state.subscribe("status", () => {
    renderStatus();
    if (state.connected && !wasConnected && revisionInput.value.trim() === "") reread();
    wasConnected = state.connected;
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void read();
  });
  hideInternal.addEventListener("change", () => void read(pageIndex));
  latestButton.addEventListener("click", () => {
    revisionInput.value = "";
    void read();
  });
  // Paging keeps the tree: it is the same query.
  prev.addEventListener("click", () => void read(Math.max(0, pageIndex - 1), false));
  next.addEventListener("click", () => {
    if (pageStarts[pageIndex + 1] !== undefined) void read(pageIndex + 1, false);
  });
  window.addEventListener("hashchange", () => void follow());
  if (location.hash === "") void read();
  else void follow();
}

/** Changes the URL hash without a history entry per click. */
function replaceHash(hash: string): void {
  window.history.replaceState(null, "", hash === "" ? location.pathname + location.search : hash);
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (prefix.length > bytes.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && startsWith(a, b);
}
