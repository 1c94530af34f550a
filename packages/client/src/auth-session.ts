import { Auth } from "@conclave/proto";
import {
  Code,
  ConnectError,
  createClient,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";

/**
 * Credentials for a server with auth enabled (etcd's users): the token from
 * Authenticate, sent on every call as the `Authorization` header — which
 * browsers can send, unlike gRPC metadata — and renewed when the server
 * answers "invalid auth token" (the token expired after `--auth-token-ttl`
 * without use, the server restarted, or the password changed).
 *
 * ```ts
 * const session = createAuthSession();
 * const transport = createConnectTransport({ baseUrl, interceptors: [session.interceptor] });
 * await session.login(transport, "alice", "secret");
 * const client = createConclaveClient(transport);
 * ```
 */
export interface AuthSession {
  /** Add to the transport's `interceptors`: attaches the token, renews it when it is refused. */
  readonly interceptor: Interceptor;
  /**
   * Authenticates over `transport` (the one carrying {@link interceptor}) and
   * keeps the name and password for renewals. Rejects with the server's
   * error: InvalidArgument "etcdserver: authentication failed, invalid user
   * ID or password", FailedPrecondition "etcdserver: authentication is not
   * enabled".
   */
  login(transport: Transport, name: string, password: string): Promise<void>;
  /** The current token, if logged in. */
  token(): string | undefined;
  /** Forgets the token and credentials; later calls go out without a token. */
  logout(): void;
}

const invalidToken = "etcdserver: invalid auth token";

function isInvalidToken(err: unknown): boolean {
  const e = ConnectError.from(err);
  return e.code === Code.Unauthenticated && e.rawMessage === invalidToken;
}

/**
 * A login that travels with a transport: its interceptor sends the token on
 * every call and logs in again when the server refuses it as expired.
 *
 * @example
 * ```ts
 * const session = createAuthSession();
 * const transport = createConnectTransport({ baseUrl, interceptors: [session.interceptor] });
 * await session.login(transport, "alice", "secret");
 * const client = createConclaveClient(transport);
 * ```
 */
export function createAuthSession(): AuthSession {
  let token: string | undefined;
  let credentials: { transport: Transport; name: string; password: string } | undefined;
  /** One renewal at a time: concurrent failures share it. */
  let renewing: Promise<void> | undefined;

  async function authenticate(): Promise<void> {
    const c = credentials;
    if (c === undefined) return;
    const res = await createClient(Auth, c.transport).authenticate({
      name: c.name,
      password: c.password,
    });
    token = res.token;
  }

  function renew(stale: string | undefined): Promise<void> {
    if (token !== stale) return Promise.resolve(); // someone already renewed it
    renewing ??= authenticate().finally(() => {
      renewing = undefined;
    });
    return renewing;
  }

  const interceptor: Interceptor = (next) => async (req) => {
    if (req.method.parent.typeName === Auth.typeName && req.method.name === "Authenticate") {
      return next(req);
    }
    const sent = token;
    if (sent !== undefined) req.header.set("authorization", sent);
    try {
      const res = await next(req);
      if (!res.stream) return res;
      // A stream refused mid-way (its status arrives at the end) renews too.
      const inner = res.message;
      async function* renewing() {
        try {
          yield* inner;
        } catch (err) {
          if (credentials !== undefined && isInvalidToken(err)) await renew(sent);
          throw err;
        }
      }
      return { ...res, message: renewing() };
    } catch (err) {
      if (credentials === undefined || !isInvalidToken(err)) throw err;
      await renew(sent);
      // A unary call is retried once with the new token; a stream fails and
      // its reconnect (createReconnectingStream) goes out with the new one.
      if (req.stream || token === undefined) throw err;
      req.header.set("authorization", token);
      return next(req);
    }
  };

  return {
    interceptor,
    async login(transport, name, password) {
      credentials = { transport, name, password };
      try {
        await authenticate();
      } catch (err) {
        credentials = undefined;
        token = undefined;
        throw err;
      }
    },
    token: () => token,
    logout() {
      credentials = undefined;
      token = undefined;
    },
  };
}
