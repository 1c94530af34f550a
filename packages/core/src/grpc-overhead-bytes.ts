/**
 * etcd's `grpcOverheadBytes` (512 KiB): what a gRPC message may carry beyond
 * `--max-request-bytes` before the transport refuses it, and the slack etcd
 * leaves when it cuts watch responses into fragments. The server adds it to
 * Connect's read limit, cuts watch fragments at max-request-bytes plus it,
 * and the CLI keeps `--max-request-bytes` low enough that the sum fits 32 bits.
 */
export const grpcOverheadBytes = 512 * 1024;
