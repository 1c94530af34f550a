import type { ConclaveClient } from "@conclave/client";
import type { KeyValue } from "@conclave/proto";
import { internalPrefix } from "@conclave/wire";
import { ConnectError } from "@connectrpc/connect";
import type { ActionRunner } from "./action-runner.js";
import { fill, h, throttled } from "./dom.js";
import { displayBytes, leaseHex, utf8OrUndefined } from "./format.js";
import { isDelete, readKeyHistory } from "./key-history.js";
import type { LiveState } from "./live-state.js";
import { empty, panel } from "./panel.js";
import { parseLeaseId, parseValueInput, type ValueFormat } from "./value-input.js";

const enc = new TextEncoder();
/** Most keys one read shows. */
const pageSize = 500;

const message = (err: unknown) =>
  err instanceof ConnectError ? err.rawMessage : err instanceof Error ? err.message : String(err);

/**
 * The key browser: Range under a prefix at the latest revision (re-read
 * live as keys under it change) or at any past revision, with each key's
 * create/mod revision, version and lease. Choosing a key shows its history
 * (every change still in history up to the revision shown); choosing a
 * change shows the keyspace at that revision.
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
    { class: "kb-form", "data-testid": "kb-form" },
    h("label", { class: "grow" }, "Prefix", prefixInput),
    h("label", {}, "Revision", revisionInput),
    h("label", { class: "check" }, hideInternal, `hide ${internalPrefix}`),
    h("button", { type: "submit", "data-testid": "kb-read" }, "Read"),
    latestButton,
  );
  const editor = mountKeyEditor(client, actions, () => prefixInput.value);
  const status = h("p", { class: "kb-status", "data-testid": "kb-status" });
  const history = h("aside", { class: "kb-history", "data-testid": "kb-history", hidden: true });
  const { root, body, count } = panel(
    "keys",
    "Key browser",
    "Range at the latest revision (live) or any past one; choose a key for its history.",
    form,
    editor.root,
    status,
  );
  root.append(history);
  parent.append(root);

  let readSeq = 0;
  let selected: Uint8Array | undefined;
  let historyAbort: AbortController | undefined;

  const wanted = (): { prefix: string; revision: bigint } => {
    const raw = revisionInput.value.trim();
    return { prefix: prefixInput.value, revision: raw === "" ? 0n : BigInt(raw) };
  };

  async function read(): Promise<void> {
    const seq = ++readSeq;
    let query: { prefix: string; revision: bigint };
    try {
      query = wanted();
    } catch {
      fill(status, h("span", { class: "error" }, "revision must be a whole number"));
      return;
    }
    try {
      const r = await client.range(query.prefix, {
        prefix: true,
        limit: pageSize,
        revision: query.revision,
      });
      if (seq !== readSeq) return; // a newer read was started
      const kvs = hideInternal.checked
        ? r.kvs.filter((kv) => !displayBytes(kv.key, 200).startsWith(internalPrefix))
        : r.kvs;
      // A past read answers with the current revision in its header: show the one asked for.
      const past = query.revision !== 0n;
      render(kvs, past ? query.revision : r.revision, past, r.more);
    } catch (err) {
      if (seq !== readSeq) return;
      shownStatus = undefined;
      fill(count, "");
      fill(body);
      fill(
        status,
        h("span", { class: "error", "data-testid": "kb-error" }, `Range failed: ${message(err)}`),
      );
    }
  }

  /** What the status line says about the rows shown; re-said when the connection changes. */
  let shownStatus: { revision: bigint; past: boolean; more: boolean } | undefined;
  function renderStatus(): void {
    if (shownStatus === undefined) return;
    const { revision, past, more } = shownStatus;
    fill(
      status,
      past
        ? h("span", { class: "badge past" }, `at revision ${revision}`)
        : state.connected
          ? h("span", { class: "badge live" }, `live · revision ${revision}`)
          : h("span", { class: "badge stale" }, `not live · revision ${revision}`),
      more && h("span", { class: "muted" }, ` first ${pageSize} keys`),
    );
  }

  function render(kvs: KeyValue[], revision: bigint, past: boolean, more: boolean): void {
    fill(count, kvs.length);
    shownStatus = { revision, past, more };
    renderStatus();
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
        selected = kv.key;
        if (!past) editor.edit(kv);
        for (const r of body.querySelectorAll("tr.selected")) r.classList.remove("selected");
        row.classList.add("selected");
        void showHistory(kv.key, revision);
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
        {},
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

  async function showHistory(key: Uint8Array, upTo: bigint): Promise<void> {
    historyAbort?.abort();
    const abort = new AbortController();
    historyAbort = abort;
    history.hidden = false;
    const title = h("h3", {}, "History of ", h("span", { class: "mono" }, displayBytes(key, 120)));
    const close = h("button", { type: "button", class: "secondary small" }, "×");
    close.addEventListener("click", () => {
      abort.abort();
      history.hidden = true;
      selected = undefined;
      for (const r of body.querySelectorAll("tr.selected")) r.classList.remove("selected");
    });
    fill(history, h("div", { class: "card-head" }, title, close), empty("Reading…"));
    try {
      const { events, compactedAt } = await readKeyHistory(client, key, upTo, abort.signal);
      if (abort.signal.aborted) return;
      const items = events
        .slice()
        .reverse()
        .map((e) => {
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
            go,
          );
        });
      fill(
        history,
        h("div", { class: "card-head" }, title, close),
        h("p", { class: "muted" }, `up to revision ${upTo}, newest first`),
        items.length > 0 ? h("ol", { class: "feed" }, ...items) : empty("No changes in history."),
        compactedAt !== undefined &&
          h("p", { class: "muted" }, `history before revision ${compactedAt} was compacted`),
      );
    } catch (err) {
      if (abort.signal.aborted) return;
      fill(
        history,
        h("div", { class: "card-head" }, title, close),
        h("p", { class: "error" }, message(err)),
      );
    }
  }

  // Live: re-read when a change touches the prefix (at most every 100 ms).
  const reread = throttled(() => void read(), 100);
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
  hideInternal.addEventListener("change", () => void read());
  latestButton.addEventListener("click", () => {
    revisionInput.value = "";
    void read();
  });
  void read();
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (prefix.length > bytes.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && startsWith(a, b);
}

/**
 * The key editor: put a key (text, or JSON checked before it is sent),
 * optionally on a lease (attaching an existing key to a lease is a put of
 * its value with that lease), delete it, or delete every key under the key
 * browser's prefix. Choosing a key in the browser loads it here.
 */
function mountKeyEditor(
  client: ConclaveClient,
  actions: ActionRunner,
  prefix: () => string,
): { root: HTMLElement; edit(kv: KeyValue): void } {
  const key = h("input", {
    type: "text",
    name: "edit-key",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    "data-testid": "kb-edit-key",
  });
  const value = h("textarea", {
    name: "edit-value",
    rows: 3,
    spellcheck: "false",
    "data-testid": "kb-edit-value",
  });
  const format = h(
    "select",
    { name: "edit-format", "data-testid": "kb-edit-format" },
    h("option", { value: "text" }, "text"),
    h("option", { value: "json" }, "JSON"),
  );
  const lease = h("input", {
    type: "text",
    name: "edit-lease",
    placeholder: "none",
    autocomplete: "off",
    spellcheck: "false",
    "data-testid": "kb-edit-lease",
  });
  const put = h("button", { type: "submit", "data-testid": "kb-put" }, "Put");
  const del = h(
    "button",
    { type: "button", class: "secondary", "data-testid": "kb-delete" },
    "Delete key",
  );
  const delPrefix = h(
    "button",
    { type: "button", class: "secondary danger", "data-testid": "kb-delete-prefix" },
    "Delete prefix",
  );
  const root = h(
    "form",
    { class: "kb-editor", "data-testid": "kb-editor", "aria-label": "edit a key" },
    h("label", { class: "grow" }, "Key", key),
    h("label", {}, "Format", format),
    h("label", {}, "Lease (hex)", lease),
    h("label", { class: "wide" }, "Value", value),
    h("div", { class: "buttons" }, put, del, delPrefix),
  );
  root.addEventListener("submit", (e) => {
    e.preventDefault();
    const parsed = parseValueInput(value.value, format.value as ValueFormat);
    const leaseId = parseLeaseId(lease.value);
    if (!parsed.ok) return actions.reject(`put ${key.value}`, parsed.error);
    if (leaseId === undefined)
      return actions.reject(`put ${key.value}`, "lease must be hex, like 694d7d1b3fd8a104");
    const k = key.value;
    void actions.run(
      `Put ${k}`,
      `${k} = ${displayBytes(parsed.bytes, 200)}${leaseId === 0n ? "" : ` on lease ${leaseHex(leaseId)}`}`,
      async () => {
        const r = await client.put(k, parsed.bytes, leaseId === 0n ? {} : { lease: leaseId });
        return `put at revision ${r.revision}`;
      },
    );
  });
  del.addEventListener("click", () => {
    const k = key.value;
    if (k === "") return actions.reject("delete", "no key given");
    void actions.run(`Delete ${k}`, `the key ${k}`, async () => {
      const r = await client.delete(k);
      return `${r.deleted} deleted at revision ${r.revision}`;
    });
  });
  delPrefix.addEventListener("click", () => {
    const p = prefix();
    // An empty prefix would be the whole keyspace: refuse it here.
    if (p === "") return actions.reject("delete prefix", "give a prefix in the key browser first");
    void actions.run(`Delete every key under ${p}`, `all keys starting with ${p}`, async () => {
      const r = await client.delete(p, { prefix: true });
      return `${r.deleted} deleted at revision ${r.revision}`;
    });
  });
  return {
    root,
    edit(kv) {
      key.value = displayBytes(kv.key, Number.MAX_SAFE_INTEGER);
      const text = utf8OrUndefined(kv.value);
      value.value = text ?? "";
      format.value = text !== undefined && isJson(text) ? "json" : "text";
      lease.value = kv.lease === 0n ? "" : leaseHex(kv.lease);
    },
  };
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return /^\s*[[{]/.test(text);
  } catch {
    return false;
  }
}
