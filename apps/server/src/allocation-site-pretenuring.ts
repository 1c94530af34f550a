import { setV8FlagUnlessChosen, type V8FlagOptions } from "./v8-flag-chosen.js";

/**
 * Turns off V8's allocation-site pretenuring for the serving process: V8
 * then allocates every object young, as it does before it has seen a site.
 *
 * Why: V8 watches how many objects of each allocation site survive a
 * young-generation collection and, past a threshold, allocates that site's
 * objects straight in the old generation. Under load (100 requests in flight
 * across each collection) sites on the request path crossed it, and stayed
 * so after the load changed: every later request then had objects in the old
 * generation pointing at its young ones, and each collection promoted what
 * they reached, dead or not, until the next full collection. After a
 * `--compare` run's put, range and txn workloads, Go clientv3's lock saw
 * ~480 KB promoted per scavenge and 1.9 ms pauses; without pretenuring ~120
 * KB and 1.3 ms (BENCHMARKS.md, "Pretenuring"). Set after the store is
 * opened, so the index built at start (all of which lives) is still
 * allocated as V8 sees fit.
 *
 * Sets `--no-allocation-site-pretenuring` unless node's command line chose
 * either form of the flag. Returns whether it set it.
 */
export function disableAllocationSitePretenuring(options: V8FlagOptions = {}): boolean {
  return setV8FlagUnlessChosen(
    "allocation-site-pretenuring",
    "--no-allocation-site-pretenuring",
    options,
  );
}
