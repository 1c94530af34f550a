import sortedBtree from "sorted-btree";

/**
 * `sorted-btree` is CommonJS with its class on `exports.default`; under Node's
 * ESM interop the default import is the whole `exports` object, so the class
 * sits one level down. This one place hides that.
 */
export const BTree = sortedBtree.default;
export type BTree<K, V> = InstanceType<typeof sortedBtree.default<K, V>>;

/** The node classes sorted-btree exports but does not declare (b+tree.js). */
interface NodeClasses {
  BNode: new (keys: unknown[], values: unknown[]) => object;
  BNodeInternal: new (children: object[], size: number) => object;
}
/** Entries per node: sorted-btree's default maximum node size. */
const nodeSize = 32;

/** `[from, to)` bounds of `n` items split into as few nodes as fit, evenly filled (≥ half full). */
function chunks(n: number): Array<[number, number]> {
  const parts = Math.ceil(n / nodeSize);
  const out: Array<[number, number]> = [];
  for (let i = 0; i < parts; i++)
    out.push([Math.floor((i * n) / parts), Math.floor(((i + 1) * n) / parts)]);
  return out;
}

/**
 * Builds a tree from ascending, distinct `keys` and their `values` bottom-up, the way a B+tree
 * bulk load does: leaves first, then each level of inner nodes over the one
 * below. Inserting a million keys one by one costs a descent and frequent
 * splits and sibling shifts each; this touches every key once, which is what
 * makes a large store open fast (restore-index.ts). The nodes are
 * sorted-btree's own, so the tree behaves as if built by `set`.
 */
export function bulkLoadBTree<K, V>(keys: readonly K[], values: readonly V[]): BTree<K, V> {
  const tree = new BTree<K, V>();
  if (keys.length === 0) return tree;
  const { BNode, BNodeInternal } = sortedBtree as unknown as NodeClasses;
  let level: Array<{ node: object; size: number }> = chunks(keys.length).map(([from, to]) => {
    return { node: new BNode(keys.slice(from, to), values.slice(from, to)), size: to - from };
  });
  while (level.length > 1) {
    const below = level;
    level = chunks(below.length).map(([from, to]) => {
      const children = below.slice(from, to);
      const size = children.reduce((s, c) => s + c.size, 0);
      return {
        node: new BNodeInternal(
          children.map((c) => c.node),
          size,
        ),
        size,
      };
    });
  }
  (tree as unknown as { _root: object })._root = (level[0] as { node: object }).node;
  return tree;
}
