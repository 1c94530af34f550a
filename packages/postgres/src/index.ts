// Public API of @conclave/postgres: the replica mode's shared storage over
// PostgreSQL, behind @conclave/core's ReplicationStorage port.

export { createPostgresStorage, type PostgresStorageOptions } from "./postgres-storage.js";
export { migrate, schemaVersion } from "./schema.js";
