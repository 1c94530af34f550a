export {
  type Access,
  type AuthChange,
  type AuthChangeBy,
  type AuthInfo,
  type AuthState,
  type AuthStore,
  type AuthStoreOptions,
  type AuthUserState,
  authStateOps,
  createAuthStore,
  rootRole,
  rootUser,
} from "./auth-store.js";
export {
  createJwtTokens,
  isJwtSignMethod,
  type JwtCaller,
  JwtKeyError,
  type JwtSignMethod,
  type JwtTokenOptions,
  type JwtTokens,
  jwtSignMethods,
} from "./jwt-tokens.js";
export {
  defaultBcryptCost,
  etcdPasswordHash,
  hashPassword,
  maxBcryptCost,
  minBcryptCost,
  type ScryptParams,
  verifyPassword,
} from "./password-hash.js";
export {
  covers,
  type KeyInterval,
  type KeyPermission,
  mergePermissions,
  PermissionType,
  toInterval,
} from "./permission-ranges.js";
export {
  createRequestAuthorizer,
  type LeaseKeysOf,
  type RequestAuthorizer,
} from "./request-authorizer.js";
export { createScopedAuthorizer } from "./scoped-authorizer.js";
export { createSimpleTokens, type SimpleTokens } from "./simple-tokens.js";
export type { TokenProvider, TokenType } from "./token-provider.js";
