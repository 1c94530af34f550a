import { randomInt } from "node:crypto";

/**
 * etcd's simple tokens: random, opaque, kept only in memory. Each is valid
 * until it has gone unused for the TTL — every use restarts its clock, as
 * etcd's simpleTokenTTLKeeper does — or until its user is deleted or changes
 * password, or auth is disabled. A restart forgets all of them; clients then
 * get "invalid auth token" and authenticate again (clientv3 does so itself).
 */
export interface SimpleTokens {
  readonly type: "simple";
  /** A new token for `username`: 16 random letters, ".", a sequence number. */
  assign(username: string): string;
  /**
   * Registers a token made elsewhere (by `generate` on the replica that
   * checked the password) for `username`, so it is valid here too.
   */
  register(token: string, username: string): void;
  /** A new random token, not yet registered: 16 random letters, ".", 16 more. */
  generate(): string;
  /** The user of a live token (restarting its TTL), or undefined. */
  lookup(token: string): string | undefined;
  /** Drops every token of `username`. */
  invalidateUser(username: string): void;
  /** Drops every token. */
  clear(): void;
  /**
   * Starts sweeping expired tokens (every min(TTL, 1 s)). Without it tokens
   * still expire on lookup; the sweep only frees the memory of tokens nobody
   * uses again. Calling it again is a no-op.
   */
  start(): void;
  /** Stops the sweep. */
  close(): void;
}

export interface SimpleTokenOptions {
  /** Idle time after which a token expires, in ms. Default 300 000 (etcd's `--auth-token-ttl` 300). */
  ttlMs?: number;
  /** Clock, for tests. Default Date.now. */
  now?: () => number;
}

const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

export function createSimpleTokens(options: SimpleTokenOptions = {}): SimpleTokens {
  const ttlMs = options.ttlMs ?? 300_000;
  const now = options.now ?? Date.now;
  const tokens = new Map<string, { username: string; expiresAt: number }>();
  let seq = 0;
  const sweep = () => {
    const t = now();
    for (const [token, entry] of tokens) if (entry.expiresAt <= t) tokens.delete(token);
  };
  let timer: ReturnType<typeof setInterval> | undefined;
  return {
    type: "simple",
    start() {
      if (timer !== undefined) return;
      timer = setInterval(sweep, Math.min(ttlMs, 1000));
      timer.unref();
    },
    register(token, username) {
      tokens.set(token, { username, expiresAt: now() + ttlMs });
    },
    generate() {
      let random = "";
      for (let i = 0; i < 16; i++) random += letters[randomInt(letters.length)];
      let tail = "";
      for (let i = 0; i < 16; i++) tail += letters[randomInt(letters.length)];
      return `${random}.${tail}`;
    },
    assign(username) {
      let token: string;
      do {
        let random = "";
        for (let i = 0; i < 16; i++) random += letters[randomInt(letters.length)];
        token = `${random}.${++seq}`;
      } while (tokens.has(token));
      tokens.set(token, { username, expiresAt: now() + ttlMs });
      return token;
    },
    lookup(token) {
      const entry = tokens.get(token);
      if (entry === undefined) return undefined;
      const t = now();
      if (entry.expiresAt <= t) {
        tokens.delete(token);
        return undefined;
      }
      entry.expiresAt = t + ttlMs;
      return entry.username;
    },
    invalidateUser(username) {
      for (const [token, entry] of tokens) if (entry.username === username) tokens.delete(token);
    },
    clear: () => tokens.clear(),
    close: () => clearInterval(timer),
  };
}
