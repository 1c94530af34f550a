/**
 * Runs `fn` while something is held (a lock, leadership), then releases it
 * whether `fn` returns or throws. When `fn` throws, its error is the one
 * rethrown: a release that fails too (say the lease already expired) is
 * ignored rather than hiding why `fn` failed.
 */
export async function runWhileHeld<H, T>(
  held: H,
  fn: (held: H) => T | Promise<T>,
  release: (held: H) => Promise<void>,
): Promise<T> {
  let result: T;
  try {
    result = await fn(held);
  } catch (err) {
    await release(held).catch(() => undefined);
    throw err;
  }
  await release(held);
  return result;
}
