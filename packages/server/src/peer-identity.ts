import { createContextKey } from "@connectrpc/connect";

/**
 * The common name (CN) of the client certificate the TLS listener verified
 * for this request's connection, or undefined on plain connections and on
 * TLS connections without a verified client certificate.
 *
 * The transport (apps/server) sets it through Connect's `contextValues`; it
 * never comes from a request header, so a client cannot claim it. With auth
 * enabled, etcd takes this CN as the user name when a request carries no
 * token, and so does Conclave.
 */
export const peerCommonNameKey = createContextKey<string | undefined>(undefined, {
  description: "verified client certificate common name",
});
