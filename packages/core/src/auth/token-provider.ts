import type { JwtTokens } from "./jwt-tokens.js";
import type { SimpleTokens } from "./simple-tokens.js";

/**
 * What Authenticate hands out and what a request's token is checked
 * against, chosen by `--auth-token` (etcd's TokenProvider): `"simple"`
 * (opaque, kept in memory, looked up synchronously) or `"jwt"` (signed,
 * stateless, verified asynchronously). `type` tells them apart.
 */
export type TokenProvider = SimpleTokens | JwtTokens;

export type TokenType = TokenProvider["type"];
