/** One line of a diff: kept, removed (only in the old value) or added. */
export interface DiffLine {
  op: "same" | "del" | "add";
  text: string;
}

/** Most lines compared line by line; longer values are shown as replaced whole. */
const maxLines = 2_000;

/**
 * A line diff of two values (longest common subsequence): what a version
 * changed against the one before. Values over `maxLines` lines are shown as
 * all removed and all added, to keep the page responsive.
 */
export function lineDiff(before: string, after: string): DiffLine[] {
  const a = before === "" ? [] : before.split("\n");
  const b = after === "" ? [] : after.split("\n");
  if (a.length > maxLines || b.length > maxLines) {
    return [
      ...a.map((text) => ({ op: "del" as const, text })),
      ...b.map((text) => ({ op: "add" as const, text })),
    ];
  }
  // lcs(i, j): how many lines a[i..] and b[j..] have in common (one flat table).
  const w = b.length + 1;
  const table = new Uint32Array((a.length + 1) * w);
  const lcs = (i: number, j: number) => table[i * w + j] ?? 0;
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      table[i * w + j] =
        a[i] === b[j] ? lcs(i + 1, j + 1) + 1 : Math.max(lcs(i + 1, j), lcs(i, j + 1));
    }
  }
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      out.push({ op: "same", text: a[i] as string });
      i++;
      j++;
    } else if (lcs(i + 1, j) >= lcs(i, j + 1)) {
      out.push({ op: "del", text: a[i++] as string });
    } else {
      out.push({ op: "add", text: b[j++] as string });
    }
  }
  while (i < a.length) out.push({ op: "del", text: a[i++] as string });
  while (j < b.length) out.push({ op: "add", text: b[j++] as string });
  return out;
}
