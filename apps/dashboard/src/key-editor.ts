import type { ConclaveClient } from "@conclave/client";
import type { KeyValue } from "@conclave/proto";
import type { ActionRunner } from "./action-runner.js";
import { h } from "./dom.js";
import { displayBytes, leaseHex, utf8OrUndefined } from "./format.js";
import { isJsonText, parseLeaseId, parseValueInput, type ValueFormat } from "./value-input.js";

/**
 * The key editor: put a key (text, or JSON checked before it is sent),
 * optionally on a lease (attaching an existing key to a lease is a put of
 * its value with that lease), delete it, or delete every key under the key
 * browser's prefix. Choosing a key in the browser loads it here.
 */
export function mountKeyEditor(
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
      format.value = text !== undefined && isJsonText(text) ? "json" : "text";
      lease.value = kv.lease === 0n ? "" : leaseHex(kv.lease);
    },
  };
}
