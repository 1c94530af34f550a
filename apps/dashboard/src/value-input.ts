/** How the value editor reads what was typed. */
export type ValueFormat = "text" | "json";

const enc = new TextEncoder();

/**
 * The bytes to put for what was typed: text as UTF-8; JSON only when it
 * parses (the error says where it does not), sent as typed so the user's
 * formatting is kept.
 */
export function parseValueInput(
  text: string,
  format: ValueFormat,
): { ok: true; bytes: Uint8Array } | { ok: false; error: string } {
  if (format === "json") {
    try {
      JSON.parse(text);
    } catch (err) {
      return { ok: false, error: `not valid JSON: ${(err as Error).message}` };
    }
  }
  return { ok: true, bytes: enc.encode(text) };
}

/**
 * A lease ID as typed: etcd's hex (as etcdctl and the leases panel print
 * it), optional `0x`; empty means no lease (0n). Undefined when invalid.
 */
export function parseLeaseId(text: string): bigint | undefined {
  const t = text.trim().replace(/^0x/i, "");
  if (t === "") return 0n;
  if (!/^[0-9a-f]{1,16}$/i.test(t)) return undefined;
  const id = BigInt(`0x${t}`);
  // etcd lease IDs are int64 and positive.
  return id > 0x7fffffffffffffffn ? undefined : id;
}

/** Text that is a JSON object or array (shown pretty, edited as JSON). */
export function isJsonText(text: string): boolean {
  if (!/^\s*[[{]/.test(text)) return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
