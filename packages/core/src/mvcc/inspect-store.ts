import type { Backend } from "../backend/backend.js";
import { createKeyIndex } from "./key-index.js";
import { restoreIndex } from "./restore-index.js";

/** What a store holds, as {@link inspectStore} reads it. */
export interface StoreSummary {
  /** The current revision (1 for an empty store). */
  revision: number;
  /** The compaction revision, -1 when never compacted. */
  compactRevision: number;
  /** Keys live at the current revision. */
  keys: number;
}

/**
 * Reads a store's revisions and key count without opening it: the index is
 * rebuilt as `openKvStore` rebuilds it, then dropped, and nothing is
 * written — not even the compaction a stop interrupted, which opening would
 * redo. For tools that look at a store they must leave as it is
 * (`conclave migrate` reports what it copied).
 */
export function inspectStore(backend: Backend): StoreSummary {
  const index = createKeyIndex();
  const restored = restoreIndex(backend, index, undefined);
  let keys = 0;
  index.range("", null, restored.current, () => {
    keys++;
    return true;
  });
  return { revision: restored.current, compactRevision: restored.compactMain, keys };
}
