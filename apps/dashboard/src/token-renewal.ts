import type { AuthSession } from "@conclave/client";
import type { Transport } from "@connectrpc/connect";

/**
 * When to log in again with the kept password, before the token runs out.
 *
 * etcd's JWTs carry `exp` and are never extended by use, so the page renews
 * at 80% of their life. Simple tokens are opaque and live until unused for
 * `--auth-token-ttl` (default 300 s); the page uses them every second, but a
 * renewal every `simpleTokenRenewMs` (default 60 s) keeps a tab that was
 * asleep from meeting an expired one. Never sooner than `minMs` (default
 * 1 s), so a token with a past `exp` cannot make a busy loop.
 */
export function renewDelayMs(
  token: string,
  now: number,
  options: { simpleTokenRenewMs?: number; minMs?: number } = {},
): number {
  const simple = options.simpleTokenRenewMs ?? 60_000;
  const min = options.minMs ?? 1_000;
  const exp = jwtExpiry(token);
  if (exp === undefined) return simple;
  return Math.max(min, Math.floor((exp * 1000 - now) * 0.8));
}

/** The `exp` claim (unix seconds) of a JWT, or undefined for anything else. */
export function jwtExpiry(token: string): number | undefined {
  const parts = token.split(".");
  if (parts.length !== 3) return undefined;
  try {
    const b64 = (parts[1] ?? "").replace(/-/g, "+").replace(/_/g, "/");
    const claims: unknown = JSON.parse(atob(b64.padEnd(Math.ceil(b64.length / 4) * 4, "=")));
    const exp = (claims as { exp?: unknown }).exp;
    return typeof exp === "number" && Number.isFinite(exp) ? exp : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Logs in again before the token runs out (see {@link renewDelayMs}), for as
 * long as the page is logged in; `onFailed` hears a renewal the server
 * refused (password changed, user deleted). Returns the stop function.
 */
export function keepTokenFresh(
  session: AuthSession,
  transport: Transport,
  name: string,
  password: string,
  onFailed: (err: unknown) => void,
): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const schedule = () => {
    const token = session.token();
    if (stopped || token === undefined) return;
    timer = setTimeout(
      () => {
        session.login(transport, name, password).then(schedule, (err: unknown) => {
          if (!stopped) onFailed(err);
        });
      },
      renewDelayMs(token, Date.now()),
    );
  };
  schedule();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
