/** An AbortController that also aborts when any parent signal does. */
export interface LinkedAbortController {
  readonly controller: AbortController;
  readonly signal: AbortSignal;
  /** Stops listening to the parents (call when done, so long-lived parents do not collect listeners). */
  unlink(): void;
}

/**
 * Links a child controller to parent signals (the caller's `signal` option,
 * the client's `close()`), with the first parent's reason. Written out rather
 * than `AbortSignal.any` so it works in older browsers, and so the links can
 * be dropped: a client lives long and starts many streams.
 */
export function linkedAbortController(
  ...parents: Array<AbortSignal | undefined>
): LinkedAbortController {
  const controller = new AbortController();
  const links: Array<() => void> = [];
  for (const parent of parents) {
    if (parent === undefined) continue;
    if (parent.aborted) {
      controller.abort(parent.reason);
      break;
    }
    const onAbort = () => controller.abort(parent.reason);
    parent.addEventListener("abort", onAbort, { once: true });
    links.push(() => parent.removeEventListener("abort", onAbort));
  }
  const unlink = () => {
    for (const l of links.splice(0)) l();
  };
  controller.signal.addEventListener("abort", unlink, { once: true });
  return { controller, signal: controller.signal, unlink };
}
