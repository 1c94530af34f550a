import { create } from "@bufbuild/protobuf";
import type { KvAuthorizer } from "@conclave/core";
import { conclaveLog } from "@conclave/proto";

type Request = conclaveLog.LogEntry["request"];

/**
 * A log entry for `request`, carrying the caller of `auth` (and the key range
 * it acts within, for a scoped check) when the request is checked (absent
 * `auth`: a trusted internal request, applied unchecked).
 * `create` copies plain objects into messages, so requests built by the
 * in-process client serialize as well as decoded ones.
 */
export function logEntry(
  request: Request,
  auth?: Pick<KvAuthorizer, "caller" | "scope"> | undefined,
): conclaveLog.LogEntry {
  return create(conclaveLog.LogEntrySchema, {
    request,
    ...(auth !== undefined && {
      caller: {
        username: auth.caller?.username ?? "",
        authRevision: BigInt(auth.caller?.revision ?? 0),
        ...(auth.scope !== undefined && { scope: { ...auth.scope } }),
      },
    }),
  } as Parameters<typeof create<typeof conclaveLog.LogEntrySchema>>[1]);
}
