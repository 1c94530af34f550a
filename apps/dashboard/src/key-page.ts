import { type ConclaveClient, prefixEnd } from "@conclave/client";
import type { KeyValue } from "@conclave/proto";
import { utf8OrUndefined } from "./format.js";

const enc = new TextEncoder();

/** Keys one page of the key browser shows. */
export const keyPageSize = 200;
/** Keys read per request while searching for a substring. */
const scanBatch = 5_000;

/** What to read: keys under `prefix` (optionally containing `contains`), from `after` on. */
export interface KeyPageQuery {
  prefix: string;
  /** Substring the key must contain (case-sensitive); empty: every key. */
  contains: string;
  /** Start of the page: the first key it may show (inclusive). Default: the prefix. */
  from?: Uint8Array;
  /** 0: the latest revision. */
  revision: bigint;
  /** The total from the query's first page, so later pages need not count again. */
  knownTotal?: bigint;
}

export interface KeyPage {
  kvs: KeyValue[];
  /** The revision read (the one asked for, or the latest). */
  revision: bigint;
  /** Where the next page starts; undefined on the last page. */
  next: Uint8Array | undefined;
  /** Keys under the prefix in all (without `contains`: exact, from the Range's count). */
  total: bigint | undefined;
  /** With `contains`: keys looked at to fill this page. */
  scanned: number;
}

/** The smallest key after `key`: `key` + 0x00. */
export function keyAfter(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length + 1);
  out.set(key);
  return out;
}

/**
 * One page of keys, key-ordered, by cursor — the next page starts right
 * after the last key shown — so paging through 100k+ keys reads one page
 * per step (Range with `limit`), never everything. A substring search reads
 * keys in batches at one revision until the page is full or the prefix ends.
 */
export async function readKeyPage(client: ConclaveClient, q: KeyPageQuery): Promise<KeyPage> {
  const prefixBytes = enc.encode(q.prefix);
  const end = q.prefix === "" ? new Uint8Array([0]) : prefixEnd(prefixBytes);
  let from: Uint8Array = q.from ?? (q.prefix === "" ? new Uint8Array([0]) : prefixBytes);
  if (q.contains === "") {
    const r = await client.range(from, { rangeEnd: end, limit: keyPageSize, revision: q.revision });
    const last = r.kvs.at(-1);
    // The total under the prefix, not from the cursor: one count-only read.
    const total =
      q.from === undefined
        ? r.count
        : q.knownTotal !== undefined
          ? q.knownTotal
          : (
              await client.range(q.prefix === "" ? new Uint8Array([0]) : prefixBytes, {
                rangeEnd: end,
                countOnly: true,
                revision: r.revision,
              })
            ).count;
    return {
      kvs: r.kvs,
      revision: q.revision === 0n ? r.revision : q.revision,
      next: r.more && last !== undefined ? keyAfter(last.key) : undefined,
      total,
      scanned: r.kvs.length,
    };
  }
  const kvs: KeyValue[] = [];
  let revision = q.revision;
  let scanned = 0;
  for (;;) {
    const r = await client.range(from, { rangeEnd: end, limit: scanBatch, revision });
    if (revision === 0n) revision = r.revision; // every batch at one revision
    for (const [i, kv] of r.kvs.entries()) {
      scanned++;
      if (!(utf8OrUndefined(kv.key) ?? "").includes(q.contains)) continue;
      kvs.push(kv);
      if (kvs.length === keyPageSize) {
        const more = i < r.kvs.length - 1 || r.more;
        return {
          kvs,
          revision,
          next: more ? keyAfter(kv.key) : undefined,
          total: undefined,
          scanned,
        };
      }
    }
    const last = r.kvs.at(-1);
    if (!r.more || last === undefined)
      return { kvs, revision, next: undefined, total: undefined, scanned };
    from = keyAfter(last.key);
  }
}

/** One level of the key tree under a prefix. */
export interface TreeLevel {
  /** Child "directories": prefix + segment + "/", with keys under them. */
  dirs: string[];
  /** Keys directly at this level (no further "/"). */
  leaves: string[];
  /** Stopped at `max` entries. */
  truncated: boolean;
}

/**
 * The next level of the `/` tree under `prefix`, without reading every key:
 * after finding a directory it skips past all of it (Range from its prefix
 * end), so a level of 100 directories of 1 000 keys each costs ~100 reads of
 * one key. Non-UTF-8 keys are leaves.
 */
export async function readTreeLevel(
  client: ConclaveClient,
  prefix: string,
  revision: bigint,
  max = 200,
): Promise<TreeLevel> {
  const prefixBytes = enc.encode(prefix);
  const end = prefix === "" ? new Uint8Array([0]) : prefixEnd(prefixBytes);
  let from: Uint8Array = prefix === "" ? new Uint8Array([0]) : prefixBytes;
  const level: TreeLevel = { dirs: [], leaves: [], truncated: false };
  let at = revision;
  while (level.dirs.length + level.leaves.length < max) {
    const r = await client.range(from, { rangeEnd: end, limit: 1, keysOnly: true, revision: at });
    if (at === 0n) at = r.revision;
    const kv = r.kvs[0];
    if (kv === undefined) return level;
    const key = utf8OrUndefined(kv.key);
    const slash = key === undefined ? -1 : key.indexOf("/", prefix.length);
    if (key === undefined || slash < 0) {
      level.leaves.push(key ?? "");
      from = keyAfter(kv.key);
    } else {
      const dir = key.slice(0, slash + 1);
      level.dirs.push(dir);
      from = prefixEnd(enc.encode(dir));
    }
    if (!r.more) return level;
  }
  level.truncated = true;
  return level;
}
