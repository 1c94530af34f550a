import sortedBtree from "sorted-btree";

/**
 * `sorted-btree` is CommonJS with its class on `exports.default`; under Node's
 * ESM interop the default import is the whole `exports` object, so the class
 * sits one level down. This one place hides that.
 */
export const BTree = sortedBtree.default;
export type BTree<K, V> = InstanceType<typeof sortedBtree.default<K, V>>;
