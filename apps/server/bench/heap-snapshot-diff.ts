// Compares two V8 heap snapshots per kind of object (`node apps/server/bench/heap-snapshot-diff.ts
// a.heapsnapshot b.heapsnapshot`, e.g. two that memory-breakdown.ts --snapshots wrote): count and
// self size of each (node type, constructor or name), largest differences first; given one
// snapshot, what it holds. Strings, numbers and code are grouped as one kind each. `--top N` rows
// (default 40).

import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: "string", default: "40" } },
});

interface Kind {
  count: number;
  bytes: number;
}

function load(path: string): { kinds: Map<string, Kind>; total: number } {
  const snap = JSON.parse(readFileSync(path, "utf8")) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snap.snapshot.meta.node_fields;
  const width = fields.length;
  const typeAt = fields.indexOf("type");
  const nameAt = fields.indexOf("name");
  const sizeAt = fields.indexOf("self_size");
  const types = snap.snapshot.meta.node_types[0];
  const kinds = new Map<string, Kind>();
  let total = 0;
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt] as number] as string;
    let name = snap.strings[snap.nodes[i + nameAt] as number] as string;
    if (type.endsWith("string")) name = "";
    else if (type === "code" || type === "number") name = "";
    else if (name.length > 60) name = `${name.slice(0, 60)}…`;
    const key = `${type} ${name}`;
    const size = snap.nodes[i + sizeAt] as number;
    const k = kinds.get(key);
    if (k === undefined) kinds.set(key, { count: 1, bytes: size });
    else {
      k.count++;
      k.bytes += size;
    }
    total += size;
  }
  return { kinds, total };
}

const [pathA, pathB] = positionals;
if (pathA === undefined) {
  throw new Error("usage: heap-snapshot-diff.ts [a.heapsnapshot] b.heapsnapshot [--top N]");
}
// One snapshot: what it holds (compared with nothing).
const a = pathB === undefined ? { kinds: new Map<string, Kind>(), total: 0 } : load(pathA);
const b = load(pathB ?? pathA);
const mb = (n: number) => (n / 2 ** 20).toFixed(2);
console.log(`self size: ${mb(a.total)} MiB → ${mb(b.total)} MiB (${mb(b.total - a.total)} MiB)`);
const rows: Array<{ key: string; count: number; bytes: number }> = [];
for (const [key, k] of b.kinds) {
  const o = a.kinds.get(key) ?? { count: 0, bytes: 0 };
  rows.push({ key, count: k.count - o.count, bytes: k.bytes - o.bytes });
}
for (const [key, o] of a.kinds) {
  if (!b.kinds.has(key)) rows.push({ key, count: -o.count, bytes: -o.bytes });
}
rows.sort((x, y) => Math.abs(y.bytes) - Math.abs(x.bytes));
console.log(`${"bytes".padStart(12)} ${"count".padStart(9)}  kind`);
for (const r of rows.slice(0, Number(values.top))) {
  console.log(`${String(r.bytes).padStart(12)} ${String(r.count).padStart(9)}  ${r.key}`);
}
