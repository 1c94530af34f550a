import { type BackendOp, Buckets } from "../backend/backend.js";
import { defaultAuthTokenTtlSeconds } from "../defaults.js";
import {
  errAuthFailed,
  errAuthNotEnabled,
  errAuthOldRevision,
  errInvalidAuthMgmt,
  errPermissionDenied,
  errPermissionNotGiven,
  errPermissionNotGranted,
  errRoleAlreadyExist,
  errRoleEmpty,
  errRoleNotFound,
  errRoleNotGranted,
  errRootRoleNotExist,
  errRootUserNotExist,
  errUserAlreadyExist,
  errUserEmpty,
  errUserNotFound,
} from "../errors.js";
import { IndexedSet } from "../indexed-set.js";
import { compareBytes } from "../kv/compare-bytes.js";
import type { KvStore } from "../mvcc/kv-store.js";
import { hashPassword, type ScryptParams, verifyPassword } from "./password-hash.js";
import {
  covers,
  type KeyPermission,
  type MergedPermissions,
  mergePermissions,
  type PermissionType,
  toInterval,
} from "./permission-ranges.js";
import { createSimpleTokens } from "./simple-tokens.js";
import type { TokenProvider, TokenType } from "./token-provider.js";

/** The special user and role: `root` with role `root` may do anything. */
export const rootUser = "root";
export const rootRole = "root";

/** Who a request acts as, and the auth revision at which that was resolved. */
export interface AuthInfo {
  username: string;
  revision: number;
}

export type Access = "read" | "write";

/**
 * Who asks for an auth change. The change checks that caller's root role
 * (etcd's IsAdminPermitted) as it applies — after a password is hashed, in
 * the same synchronous step as the change itself — as etcd's authApplierV3
 * checks it when it applies the entry, so a root role revoked while the hash
 * ran is honoured. Omitted: a trusted change (tests, bootstrapping, a
 * replica applying an entry proposed without a caller).
 */
export interface AuthChangeBy {
  readonly caller: AuthInfo | undefined;
}

/**
 * etcd's auth store: users, roles, their key permissions and the enabled
 * flag, persisted in the `auth`, `authUsers` and `authRoles` buckets; plus
 * the tokens Authenticate hands out (its {@link TokenProvider}: in-memory
 * simple tokens, or JWTs).
 *
 * Every change to users, roles or permissions, and disabling auth, bumps the
 * auth revision by one, as etcd's commitRevision does (enabling does not).
 * Changes are applied in memory synchronously — so a permission check run
 * inside a KV write (`createRequestAuthorizer`, called by the applier from
 * within `store.write`) always sees the latest state — and their promises
 * resolve once they are durable.
 */
export interface AuthStore {
  /**
   * The kind of token Authenticate hands out (`--auth-token`). With `"jwt"`
   * a request's token is checked by {@link verifyToken}, which is
   * asynchronous; with `"simple"` by {@link authInfoFromToken}.
   */
  readonly tokenType: TokenType;
  isEnabled(): boolean;
  /** The auth revision: 1 on a fresh store, +1 per change. */
  revision(): number;
  /**
   * errRootUserNotExist / errRootRoleNotExist unless `root` has the `root` role. No-op when on.
   *
   * Every change below takes `by` last: see {@link AuthChangeBy}. Its check
   * comes first (before the change's own errors, as in etcd's apply), and a
   * change that hashes a password checks again once the hash is done.
   */
  enable(by?: AuthChangeBy): Promise<void>;
  /** Turns auth off and invalidates every token. No-op when off. */
  disable(by?: AuthChangeBy): Promise<void>;
  /**
   * Checks the password and returns a new token (errAuthNotEnabled,
   * errAuthFailed; errVerifyOnly from a JWT server without a private key).
   */
  authenticate(name: string, password: string): Promise<string>;
  /**
   * The caller a simple token stands for (restarting its TTL) at the current
   * auth revision, or undefined for an invalid token. Simple tokens only: a
   * JWT store throws (its tokens need {@link verifyToken}).
   */
  authInfoFromToken(token: string): AuthInfo | undefined;
  /**
   * The caller any token stands for, or undefined for an invalid one. A JWT's
   * caller carries the token's `revision` claim, so checks refuse it once the
   * auth state has moved on (errAuthOldRevision, as etcd); a simple token's
   * is {@link authInfoFromToken}'s.
   */
  verifyToken(token: string): Promise<AuthInfo | undefined>;
  /** The caller named by a verified client certificate's common name. */
  authInfoFromName(name: string): AuthInfo;

  /**
   * Checks a password without issuing a token — the first half of
   * `authenticate`, for a replica that proposes the token to the shared log.
   * Resolves with the auth revision the password was checked at.
   */
  checkPassword(name: string, password: string): Promise<number>;
  /**
   * The second half: makes `token` valid for `name`, unless the auth state
   * changed since `checkedRevision` (errAuthOldRevision, as etcd's apply of
   * Authenticate) or auth is off (errAuthNotEnabled). Simple tokens only: a
   * JWT store keeps no tokens, so it only runs the checks.
   */
  assignToken(name: string, token: string, checkedRevision: number): void;
  /** A new random simple token (see SimpleTokens.generate); simple tokens only. */
  newToken(): string;
  /** The hash userAdd stores for `password` (a replica proposes it, hashed once). */
  hashPassword(password: string): Promise<string>;

  /** `passwordHash`, when given, is stored as it is instead of hashing `password`. */
  userAdd(
    name: string,
    password: string,
    options?: { noPassword?: boolean; passwordHash?: string },
    by?: AuthChangeBy,
  ): Promise<void>;
  userDelete(name: string, by?: AuthChangeBy): Promise<void>;
  userChangePassword(
    name: string,
    password: string,
    options?: { passwordHash?: string },
    by?: AuthChangeBy,
  ): Promise<void>;
  userGrantRole(user: string, role: string, by?: AuthChangeBy): Promise<void>;
  userRevokeRole(user: string, role: string, by?: AuthChangeBy): Promise<void>;
  /** The user's roles, sorted (errUserNotFound). */
  userGet(name: string): string[];
  /** Every user name, sorted bytewise. */
  userList(): string[];

  roleAdd(name: string, by?: AuthChangeBy): Promise<void>;
  roleDelete(name: string, by?: AuthChangeBy): Promise<void>;
  /** Grants or, for the same key and range end, replaces a permission. */
  roleGrantPermission(
    name: string,
    perm: KeyPermission | undefined,
    by?: AuthChangeBy,
  ): Promise<void>;
  roleRevokePermission(
    name: string,
    key: Uint8Array,
    rangeEnd: Uint8Array,
    by?: AuthChangeBy,
  ): Promise<void>;
  /** The role's permissions, sorted by key (errRoleNotFound). */
  roleGet(name: string): KeyPermission[];
  roleList(): string[];
  /** Whether the user exists and has the role. */
  hasRole(user: string, role: string): boolean;

  /**
   * etcd's isOpPermitted: passes when auth is off; else errUserEmpty without
   * a caller, errAuthOldRevision for a stale one, errPermissionDenied unless
   * the user has the root role or its roles' permissions of that kind
   * together cover the whole range (etcd's range forms, see KeyPermission).
   */
  checkPermission(
    info: AuthInfo | undefined,
    key: Uint8Array,
    rangeEnd: Uint8Array,
    access: Access,
  ): void;
  /**
   * Whether {@link checkPermission} would pass, for filtering what a caller
   * is shown (LeaseTimeToLive's key names) instead of refusing the request.
   */
  isPermitted(
    info: AuthInfo | undefined,
    key: Uint8Array,
    rangeEnd: Uint8Array,
    access: Access,
  ): boolean;
  /** etcd's IsAdminPermitted: root role needed when auth is on (errUserEmpty, errUserNotFound, errPermissionDenied). */
  checkAdmin(info: AuthInfo | undefined): void;
  /**
   * Subscribes to changes of the auth state (enable, disable, users, roles,
   * permissions, passwords). Listeners run synchronously once the new state
   * is in force — before the change is durable, and before any later write
   * — so whatever they stop receives nothing the new state would refuse.
   * Returns unsubscribe.
   */
  onChange(listener: (change: AuthChange) => void): () => void;
  /**
   * The whole persisted state — flag, revision, users with their password
   * hashes, roles — as of now, for a snapshot; `authStateOps` stores it again.
   */
  exportState(): AuthState;
  /**
   * Starts the background sweep of expired simple tokens (see
   * `SimpleTokens.start`); nothing runs before, and nothing at all for JWTs.
   * Idempotent.
   */
  start(): void;
  /** Stops the token sweep. */
  close(): void;
}

/** The persisted auth state, carried by snapshots (etcd's `auth`, `authUsers`, `authRoles`). */
export interface AuthState {
  enabled: boolean;
  revision: number;
  /** Sorted by name. */
  users: AuthUserState[];
  /** Sorted by name. */
  roles: Array<{ name: string; perms: KeyPermission[] }>;
}

export interface AuthUserState {
  name: string;
  /**
   * The stored hash: Conclave's `scrypt$…` or etcd's bcrypt (`$2a$…`), both
   * verified by `verifyPassword`; empty for a user without password.
   */
  passwordHash: string;
  /** Sorted. */
  roles: string[];
  noPassword: boolean;
}

/**
 * The backend writes that store `state` in the auth buckets, for building a
 * data dir from a snapshot; the auth store loads it as its own.
 */
export function authStateOps(state: AuthState): BackendOp[] {
  const ops: BackendOp[] = [
    { bucket: Buckets.auth, key: enabledKey, value: new Uint8Array([state.enabled ? 1 : 0]) },
    { bucket: Buckets.auth, key: revisionKey, value: revisionBytes(state.revision) },
  ];
  for (const u of state.users) {
    const record: UserRecord = {
      name: u.name,
      password: u.passwordHash,
      roles: [...u.roles],
      noPassword: u.noPassword,
    };
    ops.push({ bucket: Buckets.authUsers, key: enc.encode(u.name), value: encodeUser(record) });
  }
  for (const r of state.roles) {
    ops.push({ bucket: Buckets.authRoles, key: enc.encode(r.name), value: encodeRole(r) });
  }
  return ops;
}

/** What an auth change voids beyond permissions, for those holding on to a caller. */
export interface AuthChange {
  /**
   * The user whose tokens this change voided (password changed, user
   * deleted): streams opened with one of them lose their right to go on.
   */
  tokensVoidedFor?: string;
}

export interface AuthStoreOptions {
  /** Writes go through the store so they are ordered with KV writes and durable with them. */
  store: KvStore;
  /**
   * The tokens Authenticate hands out. Default simple tokens with
   * `tokenTtlSeconds` and `now`; a JWT provider (`createJwtTokens`) for
   * `--auth-token jwt,…`.
   */
  tokens?: TokenProvider;
  /** Idle lifetime of a simple token, in seconds. Default 300 (`--auth-token-ttl`). */
  tokenTtlSeconds?: number;
  /** Password hashing cost; tests lower it. Default N=2^14, r=8, p=1. */
  scrypt?: ScryptParams;
  /**
   * `--bcrypt-cost`: the cost of the bcrypt hash kept beside each password's
   * scrypt hash for etcd (snapshots; see hashPassword). Default 10, as etcd.
   */
  bcryptCost?: number;
  /** Clock for token expiry, for tests. Default Date.now. */
  now?: () => number;
}

interface UserRecord {
  name: string;
  /** hashPassword's (scrypt, then bcrypt) or etcd's bcrypt; empty for users added with no_password. */
  password: string;
  roles: string[];
  noPassword: boolean;
}

interface RoleRecord {
  name: string;
  perms: KeyPermission[];
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const enabledKey = enc.encode("authEnabled");
const revisionKey = enc.encode("authRevision");

const compareNames = (a: string, b: string) => compareBytes(enc.encode(a), enc.encode(b));

function encodeUser(u: UserRecord): Uint8Array {
  return enc.encode(JSON.stringify(u));
}

function encodeRole(r: RoleRecord): Uint8Array {
  return enc.encode(
    JSON.stringify({
      name: r.name,
      perms: r.perms.map((p) => ({
        permType: p.permType,
        key: Buffer.from(p.key).toString("base64"),
        rangeEnd: Buffer.from(p.rangeEnd).toString("base64"),
      })),
    }),
  );
}

function decodeRole(b: Uint8Array): RoleRecord {
  const raw = JSON.parse(dec.decode(b)) as {
    name: string;
    perms: Array<{ permType: PermissionType; key: string; rangeEnd: string }>;
  };
  return {
    name: raw.name,
    perms: raw.perms.map((p) => ({
      permType: p.permType,
      key: new Uint8Array(Buffer.from(p.key, "base64")),
      rangeEnd: new Uint8Array(Buffer.from(p.rangeEnd, "base64")),
    })),
  };
}

function revisionBytes(rev: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(rev));
  return b;
}

const bytesEqual = (a: Uint8Array, b: Uint8Array) => compareBytes(a, b) === 0;

/** Loads the auth state from the store's backend. */
export function createAuthStore(options: AuthStoreOptions): AuthStore {
  const { store } = options;
  const backend = store.backend;
  const tokens: TokenProvider =
    options.tokens ??
    createSimpleTokens({
      ttlMs: (options.tokenTtlSeconds ?? defaultAuthTokenTtlSeconds) * 1000,
      ...(options.now && { now: options.now }),
    });
  /** The simple tokens, or undefined with JWTs (which keep no state to drop). */
  const simple = tokens.type === "simple" ? tokens : undefined;

  const users = new Map<string, UserRecord>();
  const roles = new Map<string, RoleRecord>();
  for (const { value } of backend.range(Buckets.authUsers)) {
    const u = JSON.parse(dec.decode(value)) as UserRecord;
    users.set(u.name, u);
  }
  for (const { value } of backend.range(Buckets.authRoles)) {
    const r = decodeRole(value);
    roles.set(r.name, r);
  }
  let enabled = backend.get(Buckets.auth, enabledKey)?.[0] === 1;
  const storedRev = backend.get(Buckets.auth, revisionKey);
  // etcd starts a fresh auth store at revision 1.
  let revision =
    storedRev?.length === 8
      ? Number(new DataView(storedRev.buffer, storedRev.byteOffset, 8).getBigUint64(0))
      : 1;
  let permCache = new Map<string, MergedPermissions>();

  // Not a Set: one add and one delete per watch stream (see IndexedSet).
  const listeners = new IndexedSet<(change: AuthChange) => void>();
  /**
   * Stages `ops` (the in-memory state already changed), bumps the revision
   * if asked, tells the listeners, and resolves once durable.
   */
  function commit(ops: BackendOp[], bump: boolean, change: AuthChange = {}): Promise<void> {
    if (bump) {
      revision++;
      ops.push({ bucket: Buckets.auth, key: revisionKey, value: revisionBytes(revision) });
      permCache = new Map();
    }
    const w = store.write((txn) => {
      for (const op of ops) txn.stage(op);
    });
    for (const listener of listeners.snapshot()) listener(change);
    return w.durable;
  }
  const putUser = (u: UserRecord): BackendOp => {
    users.set(u.name, u);
    return { bucket: Buckets.authUsers, key: enc.encode(u.name), value: encodeUser(u) };
  };
  const putRole = (r: RoleRecord): BackendOp => {
    roles.set(r.name, r);
    return { bucket: Buckets.authRoles, key: enc.encode(r.name), value: encodeRole(r) };
  };
  /** Why a caller may not access a range (etcd's isOpPermitted), or undefined when it may. */
  function denial(
    info: AuthInfo | undefined,
    key: Uint8Array,
    rangeEnd: Uint8Array,
    access: Access,
  ): Error | undefined {
    if (!enabled) return undefined;
    if (info === undefined || info.username === "") return errUserEmpty;
    if (info.revision < revision) return errAuthOldRevision;
    const u = users.get(info.username);
    if (u === undefined) return errPermissionDenied;
    if (hasRootRole(u)) return undefined;
    const m = merged(u);
    return covers(access === "read" ? m.read : m.write, toInterval(key, rangeEnd))
      ? undefined
      : errPermissionDenied;
  }

  const requireUser = (name: string): UserRecord => {
    const u = users.get(name);
    if (u === undefined) throw errUserNotFound;
    return u;
  };
  const requireRole = (name: string): RoleRecord => {
    const r = roles.get(name);
    if (r === undefined) throw errRoleNotFound;
    return r;
  };
  const hasRootRole = (u: UserRecord) => u.roles.includes(rootRole);

  function checkAdmin(info: AuthInfo | undefined): void {
    if (!enabled) return;
    if (info === undefined || info.username === "") throw errUserEmpty;
    const u = users.get(info.username);
    if (u === undefined) throw errUserNotFound;
    if (!hasRootRole(u)) throw errPermissionDenied;
  }
  /** A change's admin check (see AuthChangeBy); none for a trusted change. */
  const admit = (by: AuthChangeBy | undefined) => {
    if (by !== undefined) checkAdmin(by.caller);
  };

  function merged(u: UserRecord): MergedPermissions {
    let m = permCache.get(u.name);
    if (m === undefined) {
      // Roles deleted since they were granted grant nothing.
      m = mergePermissions(u.roles.flatMap((r) => roles.get(r)?.perms ?? []));
      permCache.set(u.name, m);
    }
    return m;
  }

  return {
    tokenType: tokens.type,
    isEnabled: () => enabled,
    revision: () => revision,

    async enable(by) {
      admit(by);
      if (enabled) return;
      const root = users.get(rootUser);
      if (root === undefined) throw errRootUserNotExist;
      if (!hasRootRole(root)) throw errRootRoleNotExist;
      enabled = true;
      permCache = new Map();
      await commit([{ bucket: Buckets.auth, key: enabledKey, value: new Uint8Array([1]) }], false);
    },

    async disable(by) {
      admit(by);
      if (!enabled) return;
      enabled = false;
      simple?.clear();
      await commit([{ bucket: Buckets.auth, key: enabledKey, value: new Uint8Array([0]) }], true);
    },

    async authenticate(name, password) {
      for (;;) {
        if (!enabled) throw errAuthNotEnabled;
        const u = users.get(name);
        if (u === undefined || u.noPassword || u.password === "") throw errAuthFailed;
        const checkedAt = revision;
        const ok = await verifyPassword(password, u.password);
        if (!enabled) throw errAuthNotEnabled;
        if (!ok) throw errAuthFailed;
        // The user may have changed (or gone) while the hash ran: check again,
        // as etcd retries when the revision moved during CheckPassword.
        if (checkedAt !== revision) continue;
        if (tokens.type === "simple") return tokens.assign(name);
        // A JWT names the revision it was issued at: a change while it is
        // being signed makes it old, and its first use says so.
        return tokens.assign(name, checkedAt);
      }
    },

    async checkPassword(name, password) {
      for (;;) {
        if (!enabled) throw errAuthNotEnabled;
        const u = users.get(name);
        if (u === undefined || u.noPassword || u.password === "") throw errAuthFailed;
        const checkedAt = revision;
        const ok = await verifyPassword(password, u.password);
        if (!enabled) throw errAuthNotEnabled;
        if (!ok) throw errAuthFailed;
        if (checkedAt === revision) return checkedAt;
      }
    },

    assignToken(name, token, checkedRevision) {
      if (!enabled) throw errAuthNotEnabled;
      if (checkedRevision !== revision) throw errAuthOldRevision;
      if (!users.has(name)) throw errAuthFailed;
      simple?.register(token, name);
    },
    newToken() {
      if (simple === undefined) throw new Error("newToken: the store hands out JWTs");
      return simple.generate();
    },
    hashPassword: (password) => hashPassword(password, options.scrypt, options.bcryptCost),

    authInfoFromToken(token) {
      if (simple === undefined) throw new Error("authInfoFromToken: JWTs need verifyToken");
      const username = simple.lookup(token);
      return username === undefined ? undefined : { username, revision };
    },
    async verifyToken(token) {
      if (tokens.type === "simple") {
        const username = tokens.lookup(token);
        return username === undefined ? undefined : { username, revision };
      }
      return tokens.verify(token);
    },
    authInfoFromName: (username) => ({ username, revision }),

    async userAdd(name, password, addOptions = {}, by = undefined) {
      admit(by);
      if (name.length === 0) throw errUserEmpty;
      if (users.has(name)) throw errUserAlreadyExist;
      const noPassword = addOptions.noPassword === true;
      const hash = noPassword
        ? ""
        : (addOptions.passwordHash ??
          (await hashPassword(password, options.scrypt, options.bcryptCost)));
      // The apply: the caller may have lost the root role while the hash ran.
      admit(by);
      if (users.has(name)) throw errUserAlreadyExist;
      await commit([putUser({ name, password: hash, roles: [], noPassword })], true);
    },

    async userDelete(name, by) {
      admit(by);
      if (enabled && name === rootUser) throw errInvalidAuthMgmt;
      requireUser(name);
      users.delete(name);
      simple?.invalidateUser(name);
      await commit([{ bucket: Buckets.authUsers, key: enc.encode(name), value: undefined }], true, {
        tokensVoidedFor: name,
      });
    },

    async userChangePassword(name, password, changeOptions = {}, by = undefined) {
      admit(by);
      requireUser(name);
      const hash =
        changeOptions.passwordHash ??
        (await hashPassword(password, options.scrypt, options.bcryptCost));
      // The apply: the caller may have lost the root role while the hash ran.
      admit(by);
      // Keeps roles and options (a no_password user stays one, as in etcd).
      const u = requireUser(name);
      simple?.invalidateUser(name);
      await commit([putUser({ ...u, password: hash })], true, { tokensVoidedFor: name });
    },

    async userGrantRole(user, role, by) {
      admit(by);
      const u = requireUser(user);
      if (role !== rootRole) requireRole(role);
      if (u.roles.includes(role)) return; // already granted: no change, no new revision
      const next = [...u.roles, role].sort(compareNames);
      await commit([putUser({ ...u, roles: next })], true);
    },

    async userRevokeRole(user, role, by) {
      admit(by);
      if (enabled && user === rootUser && role === rootRole) throw errInvalidAuthMgmt;
      const u = requireUser(user);
      if (!u.roles.includes(role)) throw errRoleNotGranted;
      await commit([putUser({ ...u, roles: u.roles.filter((r) => r !== role) })], true);
    },

    userGet: (name) => [...requireUser(name).roles],
    userList: () => [...users.keys()].sort(compareNames),

    async roleAdd(name, by) {
      admit(by);
      if (name.length === 0) throw errRoleEmpty;
      if (roles.has(name)) throw errRoleAlreadyExist;
      await commit([putRole({ name, perms: [] })], true);
    },

    async roleDelete(name, by) {
      admit(by);
      if (enabled && name === rootRole) throw errInvalidAuthMgmt;
      requireRole(name);
      roles.delete(name);
      const ops: BackendOp[] = [
        { bucket: Buckets.authRoles, key: enc.encode(name), value: undefined },
      ];
      // Users lose the deleted role, so a new role of that name is not theirs.
      for (const u of [...users.values()]) {
        if (u.roles.includes(name)) {
          ops.push(putUser({ ...u, roles: u.roles.filter((r) => r !== name) }));
        }
      }
      await commit(ops, true);
    },

    async roleGrantPermission(name, perm, by) {
      admit(by);
      const r = requireRole(name);
      if (perm === undefined) throw errPermissionNotGiven;
      const same = r.perms.findIndex(
        (p) => bytesEqual(p.key, perm.key) && bytesEqual(p.rangeEnd, perm.rangeEnd),
      );
      const copy: KeyPermission = {
        permType: perm.permType,
        key: perm.key.slice(),
        rangeEnd: perm.rangeEnd.slice(),
      };
      const perms =
        same >= 0
          ? r.perms.map((p, i) => (i === same ? copy : p)) // same range: the type is replaced
          : [...r.perms, copy].sort((a, b) => compareBytes(a.key, b.key));
      await commit([putRole({ name, perms })], true);
    },

    async roleRevokePermission(name, key, rangeEnd, by) {
      admit(by);
      const r = requireRole(name);
      const perms = r.perms.filter(
        (p) => !(bytesEqual(p.key, key) && bytesEqual(p.rangeEnd, rangeEnd)),
      );
      if (perms.length === r.perms.length) throw errPermissionNotGranted;
      await commit([putRole({ name, perms })], true);
    },

    roleGet: (name) =>
      requireRole(name).perms.map((p) => ({
        permType: p.permType,
        key: p.key.slice(),
        rangeEnd: p.rangeEnd.slice(),
      })),
    roleList: () => [...roles.keys()].sort(compareNames),
    exportState: () => ({
      enabled,
      revision,
      users: [...users.values()]
        .sort((a, b) => compareNames(a.name, b.name))
        .map((u) => ({
          name: u.name,
          passwordHash: u.password,
          roles: [...u.roles].sort(compareNames),
          noPassword: u.noPassword,
        })),
      roles: [...roles.values()]
        .sort((a, b) => compareNames(a.name, b.name))
        .map((r) => ({
          name: r.name,
          perms: r.perms.map((p) => ({ ...p, key: p.key.slice(), rangeEnd: p.rangeEnd.slice() })),
        })),
    }),
    hasRole: (user, role) => users.get(user)?.roles.includes(role) ?? false,

    checkPermission(info, key, rangeEnd, access) {
      const err = denial(info, key, rangeEnd, access);
      if (err !== undefined) throw err;
    },

    isPermitted(info, key, rangeEnd, access) {
      return denial(info, key, rangeEnd, access) === undefined;
    },

    checkAdmin,

    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    start: () => simple?.start(),
    close: () => simple?.close(),
  };
}
