import { Code, ConnectError } from "@connectrpc/connect";

/**
 * What etcd answers a request without a token while auth is enabled
 * (InvalidArgument, etcd 3.4's exact text): the page must ask for a login.
 */
export const userNameEmpty = "etcdserver: user name is empty";

/** True when `err` means "log in first": auth is on and the call carried no token. */
export function isLoginRequired(err: unknown): boolean {
  const e = ConnectError.from(err);
  return e.code === Code.InvalidArgument && e.rawMessage === userNameEmpty;
}

/** True when `err` is etcd's refusal for a logged-in user whose roles do not allow the call. */
export function isPermissionDenied(err: unknown): boolean {
  return ConnectError.from(err).code === Code.PermissionDenied;
}

/** An error as one line for people: the gRPC code's name and etcd's message. */
export function describeError(err: unknown): string {
  return err instanceof ConnectError ? `${Code[err.code]}: ${err.rawMessage}` : String(err);
}
